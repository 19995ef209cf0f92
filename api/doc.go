// Package api is berth's HTTP face: the Engine API server, its listeners and
// middleware (api/server) and one router per resource (api/router/...). It
// holds no engine logic; routers call the daemon through small backend
// interfaces.
package api

// DefaultVersion is the newest Engine API version berth serves completely,
// the one docker CLI 28 speaks. Requests without a version prefix get it.
const DefaultVersion = "1.50"

// MinVersion is the oldest version a client may ask for.
const MinVersion = "1.24"
