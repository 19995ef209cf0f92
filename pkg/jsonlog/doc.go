// Package jsonlog owns dockerd's json-file log format: one JSON object per
// line, {"log":"…","stream":"stdout","time":"…"}. The codec (Append,
// Parse) is hand-written for speed, since a container's every line goes
// through it, and falls back to encoding/json for lines of an unexpected
// shape. Writer appends with rotation by max-size and max-file
// (container.log, container.log.1, …); the shim writes with it and
// container/logs reads.
package jsonlog
