// Package mobyexporter owns BuildKit's "moby" exporter for berth: what
// `docker build -t name` (buildx's docker driver, `--load`) asks for. The
// build result — the cache ref's layers and the image config the frontend
// made — becomes an image in berth's image store, named by every name the
// client gave (buildx sends them comma-separated), and the exporter
// response carries containerimage.digest and containerimage.config.digest,
// which buildx prints and writes to --metadata-file. With push=true (what
// buildx's docker driver sends for --push when the engine's worker names a
// snapshotter, as berth's does) the named image is then pushed through
// the store's own pusher, as `docker push` would, with the build client's
// registry credentials.
//
// Layers reach berth as uncompressed tars and berth keeps each layer once
// by chain ID: the base image's layers, which came from berth in the first
// place (package imagesource), are never copied back, so a build that adds
// no layer to a local image reuses all of them. A new layer of an overlay
// snapshot is diffed from its upper directory straight into berth's store,
// without BuildKit making a blob of it (a content write and a handful of
// metadata transactions per layer, for a copy berth would not keep); its
// diff ID is then recorded on the cache record (package diffid), so a
// cached rebuild diffs nothing. Other snapshots use BuildKit's blobs.
//
// The daemon provides the image store side through the small Images
// interface (daemon/buildkit_images.go), which also logs the image's
// create and tag events, as dockerd does for BuildKit builds.
package mobyexporter
