// Package jsonlog encodes and decodes the lines of dockerd's json-file log
// format:
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-25T10:00:00.123456789Z"}
//
// The shim writes them and `docker logs` reads them, often by the million,
// so both directions are hand-written for speed and fall back to
// encoding/json only for lines of an unexpected shape.
package jsonlog
