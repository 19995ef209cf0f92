package errdefs

import (
	"errors"
	"fmt"
)

type wrapped struct{ error }

func (w wrapped) Unwrap() error { return w.error }

type notFound struct{ wrapped }

func (notFound) NotFound() {}

type invalidParameter struct{ wrapped }

func (invalidParameter) InvalidParameter() {}

type conflict struct{ wrapped }

func (conflict) Conflict() {}

type forbidden struct{ wrapped }

func (forbidden) Forbidden() {}

type unauthorized struct{ wrapped }

func (unauthorized) Unauthorized() {}

type unavailable struct{ wrapped }

func (unavailable) Unavailable() {}

type notImplemented struct{ wrapped }

func (notImplemented) NotImplemented() {}

type system struct{ wrapped }

func (system) System() {}

// NotFound marks err as "the named object does not exist" (404).
func NotFound(err error) error { return notFound{wrapped{err}} }

// InvalidParameter marks err as bad client input (400).
func InvalidParameter(err error) error { return invalidParameter{wrapped{err}} }

// Conflict marks err as a state conflict such as a name in use (409).
func Conflict(err error) error { return conflict{wrapped{err}} }

// Forbidden marks err as an operation refused by policy (403).
func Forbidden(err error) error { return forbidden{wrapped{err}} }

// Unauthorized marks err as missing or wrong credentials (401).
func Unauthorized(err error) error { return unauthorized{wrapped{err}} }

// Unavailable marks err as a temporarily missing service (503).
func Unavailable(err error) error { return unavailable{wrapped{err}} }

// NotImplemented marks err as a feature berth does not serve (501).
func NotImplemented(err error) error { return notImplemented{wrapped{err}} }

// System marks err as an internal fault (500).
func System(err error) error { return system{wrapped{err}} }

// Errorf helpers build and classify in one call.

// NotFoundf formats a not-found error.
func NotFoundf(format string, a ...any) error { return NotFound(fmt.Errorf(format, a...)) }

// InvalidParameterf formats an invalid-parameter error.
func InvalidParameterf(format string, a ...any) error {
	return InvalidParameter(fmt.Errorf(format, a...))
}

// Conflictf formats a conflict error.
func Conflictf(format string, a ...any) error { return Conflict(fmt.Errorf(format, a...)) }

// Is reports whether err or anything it wraps has the marker method of
// target's class; it is a convenience for tests and managers that do not
// want to import containerd/errdefs.
func Is(err error, class func(error) error) bool {
	probe := class(errors.New(""))
	switch probe.(type) {
	case notFound:
		var x interface{ NotFound() }
		return errors.As(err, &x)
	case invalidParameter:
		var x interface{ InvalidParameter() }
		return errors.As(err, &x)
	case conflict:
		var x interface{ Conflict() }
		return errors.As(err, &x)
	case forbidden:
		var x interface{ Forbidden() }
		return errors.As(err, &x)
	case unauthorized:
		var x interface{ Unauthorized() }
		return errors.As(err, &x)
	case unavailable:
		var x interface{ Unavailable() }
		return errors.As(err, &x)
	case notImplemented:
		var x interface{ NotImplemented() }
		return errors.As(err, &x)
	case system:
		var x interface{ System() }
		return errors.As(err, &x)
	}
	return false
}
