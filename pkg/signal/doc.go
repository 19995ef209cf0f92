// Package signal parses signals as the Engine API takes them: a name with
// or without the SIG prefix ("KILL", "SIGTERM", "RTMIN+3") or a number,
// and tells whether a namespace's init would discard a signal.
package signal
