// Package network serves the /networks endpoints: list, inspect, create,
// remove, connect, disconnect and prune. It only speaks HTTP: decoding,
// per-version shaping of responses, and errors; the engine work is behind
// Backend.
package network
