// Package router defines what a resource router gives the API server: a
// list of routes, each a method, a path and a handler. The server adds the
// /v1.N prefix, middleware and error mapping.
package router
