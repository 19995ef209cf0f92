// Package server is the Engine API HTTP server: it registers every router's
// routes under /v1.N/ and the bare path, negotiates the API version, logs,
// recovers from panics, maps typed errors to statuses, and serves on the
// listeners that package listeners opens.
package server
