// Package cachetest owns the BuildKit cache manager the bridges' unit
// tests run against: BuildKit's real cache manager over containerd's
// native snapshotter, a local content store and bbolt metadata, all in a
// test's temp dir (the set-up of BuildKit's own cache tests), plus helpers
// to make and read layers in it.
package cachetest
