// Package disk holds the end-to-end tests of a data-root that runs out of
// room (issue #19, "Full disk"): each test gives a fresh berthd a small
// loop-mounted ext4 data-root of its own (integration/internal/loopfs),
// fills it (space, or inodes) or remounts it read-only, and checks that
// load, build, commit, logs, cp, volume writes, container, volume and
// network create and network connect fail with dockerd's clear "no space
// left on device" (or "read-only file system"), leave no partial image,
// layer, torn metadata or leaked address behind (the listings, the image
// store on disk, every JSON file, a restart), and work again once space
// is freed. The pull from a registry lives in integration/registry,
// beside the registry the tests start.
package disk
