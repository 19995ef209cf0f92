// Package archive writes and extracts the tar streams of the container
// filesystem endpoints: docker cp in both directions, docker export, and
// the layer diff of docker commit (overlay whiteouts written as the
// .wh. files every image consumer understands). Names, rebasing, hard
// links, ownership and the refusal to extract outside the destination
// follow dockerd's archive package, so the docker CLI's copy logic, which
// is written against it, sees the same streams.
//
// Tar walks by directory descriptors, each entry opened by its one name
// in its parent without following a symlink, so TarAt on a descriptor
// resolved beneath a container's root (containerfs.OpenInRoot) reads
// nothing outside it however the container swaps its files. Untar works
// on paths, in a containerfs.View.
package archive
