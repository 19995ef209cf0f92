// Package imagesource owns BuildKit's docker-image:// source for berth: the
// bridge that turns a `FROM name` into a BuildKit cache ref made of berth's
// own image layers.
//
// It prefers the local image, as dockerd's builder does: a `FROM busybox`
// whose image is in `docker images` builds offline, and the image config
// the Dockerfile frontend sees is the local image's. An image that is not
// local (or any image when the resolve mode is "pull", `--pull`) is pulled
// through berth's own puller, so hosts.toml mirrors, certs.d and the
// session's registry credentials apply exactly as for `docker pull`.
//
// Layers enter BuildKit's cache as lazy, uncompressed blobs whose digest is
// the layer's diff ID: nothing is compressed, and nothing is copied until a
// step needs the files. The cache manager finds a layer it already has by
// its blob chain, so an unchanged base image costs nothing on the next
// build.
//
// The daemon provides the image store side through the small Images
// interface (daemon/buildkit_images.go).
package imagesource
