// Package image owns the local images: the image store (an image's ID is
// the sha256 digest of its config, which lives in the content store) and
// the Service that ties together the content store (image/content), the
// overlay2 layer store (image/layer), the reference store (image/reference)
// and the archive formats (image/tarexport). It answers every local image
// operation of the Engine API: list, inspect, history, tag, delete, prune,
// load, save and import.
//
// On disk, under DATA_ROOT/image:
//
//	content/          blobs by digest: image configs only; a start removes
//	                  those no image record names (a load killed between
//	                  the config and the record)
//	layers/           the layer store
//	images/<hex>.json per-image metadata (last tag time, parent)
//	references.json   the reference store
//
// # What containers use
//
// A container needs three things from an image, and takes them through this
// small API so that it never touches the stores underneath:
//
//	img, err := svc.Get("busybox")          // resolve name, tag, digest or ID prefix
//	img.Config.Config                       // Env, Cmd, Entrypoint, WorkingDir, User…
//	rootfs, err := svc.Hold(ctrID, img.ID)  // persistent reference on the layers
//	rootfs.Mount(merged, upper, work)       // overlay of the layers (any depth)
//	…
//	svc.Release(ctrID)                      // when the container is removed
//
// Hold writes its reference to disk, so it survives daemon restarts and a
// container keeps its layers even when its image is force-removed; the
// container manager does not need to re-take holds when it restores.
// SetUsage lets the daemon tell the service which containers use an image,
// for the conflicts `docker rmi` reports.
//
// The service initialises lazily: Start kicks a background load of the
// stores (and removes what a crash left half-done), and every call waits
// for it, so the daemon answers /_ping before images are read.
package image
