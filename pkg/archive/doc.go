// Package archive writes and extracts tar streams: the container
// filesystem endpoints (docker cp in both directions, docker export, the
// layer diff of docker commit, with overlay whiteouts written as the .wh.
// files every image consumer understands), and the one extractor every
// tar berth unpacks goes through: image layers, build contexts, ADD of a
// local archive and docker cp into a container.
//
// Extract works on an open root directory, never on path strings: each
// entry's parent is resolved with openat2 beneath (or, for docker cp and
// ADD, in) that root, entries are created with *at calls that do not
// follow symlinks, and owners, modes, times and xattrs are set through the
// entry's own descriptor. Names, rebasing, hard links, ownership and the
// refusal to extract outside the destination follow dockerd's archive
// package, so the docker CLI's copy logic, which is written against it,
// sees the same streams.
//
// Tar works on ordinary paths. Callers that read a container's files run
// it inside a containerfs.View, where "/" is the container's root and no
// path can resolve outside it.
package archive
