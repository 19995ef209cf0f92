package runtime

import (
	"errors"
	"syscall"
)

// Error is a failure reported across a process boundary (a stage to the
// runtime, a shim to its client) as its words and the errno behind them,
// which the words alone would lose: a caller tells a command that does not
// exist (ENOENT) from one it may not run (EACCES, EISDIR) by the errno,
// as a shell does, not by reading the message.
type Error struct {
	Msg   string
	Errno syscall.Errno
}

func (e *Error) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, syscall.ENOENT) and the like see the errno.
func (e *Error) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// ErrnoOf is the errno at the root of err, 0 if it has none.
func ErrnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

// errNotInPath is a command name that no directory of $PATH holds, with
// the words of Go's exec.ErrNotFound (which runc reports too) and the
// errno a shell gives it.
var errNotInPath = &Error{Msg: "executable file not found in $PATH", Errno: syscall.ENOENT}
