// Package mobyexporter owns BuildKit's "moby" exporter for berth: what
// `docker build -t name` (buildx's docker driver, `--load`) asks for. The
// build result — the cache ref's layers and the image config the frontend
// made — becomes an image in berth's image store, named by every name the
// client gave (buildx sends them comma-separated), and the exporter
// response carries containerimage.digest and containerimage.config.digest,
// which buildx prints and writes to --metadata-file.
//
// Layers reach berth as uncompressed tars and berth keeps each layer once
// by chain ID: the base image's layers, which came from berth in the first
// place (package imagesource), are never copied back, so a build that adds
// no layer to a local image reuses all of them.
//
// The daemon provides the image store side through the small Images
// interface (daemon/buildkit_images.go), which also logs the image's
// create and tag events, as dockerd does for BuildKit builds.
package mobyexporter
