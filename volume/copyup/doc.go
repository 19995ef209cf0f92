// Package copyup seeds a new volume with what the image has at the mount
// path, as dockerd does the first time an empty volume is mounted over a
// non-empty image directory (unless the mount says `nocopy`).
//
// Both sides are opened as os.Root trees, so a symlink inside the
// container's filesystem can never make the copy read or write outside the
// container root or the volume.
package copyup
