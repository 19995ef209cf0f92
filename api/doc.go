// Package api is berth's HTTP face: the Engine API server, its listeners and
// middleware (api/server) and one router per resource (api/router/...). It
// holds no engine logic; routers call the daemon through small backend
// interfaces.
package api
