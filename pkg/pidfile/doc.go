// Package pidfile writes the daemon's pidfile and refuses to start a second
// daemon while the process named in an existing pidfile is still alive. A
// pidfile left by a daemon that was killed -9 names a dead process (or one
// that is not a berthd) and is replaced.
package pidfile
