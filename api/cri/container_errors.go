package cri

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthd/berth/pkg/errdefs"
)

// toStatus maps the engine's typed errors onto gRPC codes, keeping the
// message, with the codes pods21's criError gives them (a merge keeps
// one of the two).
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	switch {
	case errdefs.Is(err, errdefs.NotFound):
		code = codes.NotFound
	case errdefs.Is(err, errdefs.InvalidParameter):
		code = codes.InvalidArgument
	case errdefs.Is(err, errdefs.Conflict):
		code = codes.FailedPrecondition
	case errdefs.Is(err, errdefs.Unavailable):
		code = codes.Unavailable
	case errdefs.Is(err, errdefs.Forbidden), errdefs.Is(err, errdefs.Unauthorized):
		code = codes.PermissionDenied
	case errdefs.Is(err, errdefs.NotImplemented):
		code = codes.Unimplemented
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

func isNotFound(err error) bool { return errdefs.Is(err, errdefs.NotFound) }

// isNotModified is the engine's "nothing to do" (HTTP 304): a stop of a
// stopped container.
func isNotModified(err error) bool {
	var nm interface{ NotModified() }
	return errors.As(err, &nm)
}
