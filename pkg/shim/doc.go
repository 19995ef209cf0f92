// Package shim owns the per-container monitor process (`berthd shim`): a
// re-exec of the berthd binary, detached from the daemon (setsid, child
// subreaper), that creates the container through pkg/runtime, holds its
// stdio as pipes or a pty master, writes the output to a json-file log,
// records the exit status and OOM kill atomically in exit.json, and serves
// a small control socket. It exits once the container's exit is recorded,
// so a daemon killed with SIGKILL finds either a live shim on the socket or
// the exit status on disk. Once idle, a shim re-executes itself into a
// fresh image that takes the container over (rebirth_linux.go), to hold
// only what watching it needs.
//
// Control protocol (unix socket <dir>/shim.sock): each connection sends one
// JSON Request and reads one JSON Response. For "attach" and "exec" the
// connection then carries the streams: the client writes stdin bytes raw
// (half-close ends stdin), the shim writes frames of an 8-byte header
// [stream, 0, 0, 0, big-endian uint32 length] and payload, stream 1 stdout,
// 2 stderr (the Docker stdcopy framing), and for exec a final frame of
// stream 3 whose payload is the exit code as a decimal string.
package shim
