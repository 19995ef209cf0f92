// Package hangup tells when the client of a hijacked connection has gone
// away, without reading from it. Once net/http hands a connection over
// (attach, exec), the request's context no longer ends when the client
// hangs up, and reading to find out would take bytes meant for the
// container's stdin; the kernel's hang-up event on the socket says it.
package hangup
