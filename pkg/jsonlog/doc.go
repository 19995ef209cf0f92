// Package jsonlog owns writing container output in dockerd's json-file
// format: one JSON object per line, {"log":"…","stream":"stdout","time":"…"},
// with rotation by max-size and max-file (container.log, container.log.1,
// …). The shim writes with it; the reader lives with the container code.
package jsonlog
