// Package api is berth's HTTP face: the Engine API server, its listeners and
// middleware (api/server) and one router per resource (api/router/...). It
// holds no engine logic; routers call the daemon through small backend
// interfaces.
package api

// DefaultVersion is the newest Engine API version berth serves: the one of
// the github.com/moby/moby/api types module it encodes with, as dockerd
// serves the version of its own. Requests without a version prefix get it.
const DefaultVersion = "1.56"

// MinVersion is the oldest version a client may ask for.
const MinVersion = "1.24"
