package cri

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// criError maps the engine's typed errors of the sandbox, runtime and
// stats calls onto gRPC codes, keeping the message; a status passes as it
// is. The outermost class wins: "the network is not ready" (unavailable)
// wrapping a plugin's "not found" is unavailable.
func criError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if code, ok := classCode(e); ok {
			return status.Error(code, err.Error())
		}
	}
	return status.Error(codes.Unknown, err.Error())
}

// classCode is the code of e's own class (pkg/errdefs), not of what it
// wraps.
func classCode(e error) (codes.Code, bool) {
	switch e.(type) {
	case interface{ NotFound() }:
		return codes.NotFound, true
	case interface{ InvalidParameter() }:
		return codes.InvalidArgument, true
	case interface{ Conflict() }:
		return codes.FailedPrecondition, true
	case interface{ Unavailable() }:
		return codes.Unavailable, true
	case interface{ Forbidden() }:
		return codes.PermissionDenied, true
	case interface{ Unauthorized() }:
		return codes.Unauthenticated, true
	case interface{ NotImplemented() }:
		return codes.Unimplemented, true
	}
	switch {
	case e == context.DeadlineExceeded:
		return codes.DeadlineExceeded, true
	case e == context.Canceled:
		return codes.Canceled, true
	}
	return 0, false
}

func invalidArgument(msg string) error { return status.Error(codes.InvalidArgument, msg) }
