// Package httputils holds the request and response helpers every router
// uses: the negotiated API version in the context, JSON reading with
// dockerd's checks and messages, JSON and error writing, form values.
package httputils
