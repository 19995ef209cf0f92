// Package loopfs gives an integration test a small ext4 file system of
// its own: an image file, formatted with mkfs.ext4, attached to a loop
// device and mounted, so that a test daemon's data-root can run out of
// space or inodes, or be remounted read-only, without touching the
// host's disks. It fills the file system on request (a preallocated
// file, or empty files for inodes) and frees it again, and its cleanup
// unmounts, detaches and removes everything even when the test fails.
package loopfs
