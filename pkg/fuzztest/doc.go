// Package fuzztest holds what the fuzz targets of the archive extractors
// share: a destination directory beside a sentinel tree whose every inode
// is checked after each input, so that a write, chmod, chown, link or
// timestamp change outside the destination fails the target.
package fuzztest
