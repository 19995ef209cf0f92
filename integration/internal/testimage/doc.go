// Package testimage writes the busybox test images as docker-archive
// tarballs (the `docker save` format) from Debian's busybox-static, without
// a daemon and without a registry: one single-layer image, and one whose
// second layer adds /layer2.txt and replaces /etc/motd so that layer order
// matters.
package testimage
