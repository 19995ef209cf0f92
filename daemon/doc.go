// Package daemon is the engine: it owns the configuration, the event bus and
// the managers (containers, images, networks, volumes), wires them together,
// implements the backend interfaces the API routers call, and runs startup,
// restore, reload and shutdown.
package daemon
