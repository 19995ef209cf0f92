// Package stdstream writes the Engine API's multiplexed stream framing:
// each chunk of stdout or stderr is sent as an 8-byte header (stream byte,
// three zero bytes, big-endian length) followed by the payload. Clients
// demultiplex it with stdcopy.StdCopy. Used by attach, logs and exec
// without a TTY.
package stdstream
