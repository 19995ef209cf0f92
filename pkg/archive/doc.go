// Package archive writes and extracts the tar streams of the container
// filesystem endpoints: docker cp in both directions, docker export, and
// the layer diff of docker commit (overlay whiteouts written as the
// .wh. files every image consumer understands). Names, rebasing, hard
// links, ownership and the refusal to extract outside the destination
// follow dockerd's archive package, so the docker CLI's copy logic, which
// is written against it, sees the same streams.
//
// The functions work on ordinary paths. Callers that handle a container's
// files run them inside a containerfs.View, where "/" is the container's
// root and no path can resolve outside it.
package archive
