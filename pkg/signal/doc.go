// Package signal parses signals as the Engine API takes them: a name with
// or without the SIG prefix ("KILL", "SIGTERM", "RTMIN+3") or a number.
package signal
