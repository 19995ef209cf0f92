// Package logs reads a container's json-file log for `docker logs`: the
// current file and its rotated predecessors (name.1, name.2, …, oldest
// last), with tail, since/until, and follow that survives rotation and ends
// once the container has stopped and the file is drained.
package logs
