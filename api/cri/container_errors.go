package cri

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthd/berth/pkg/errdefs"
)

// toStatus maps an engine error's class to its gRPC code, keeping the
// message; an error that already is a status passes as it is.
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
		code = codes.AlreadyExists
	case errdefs.Is(err, errdefs.Forbidden):
		code = codes.PermissionDenied
	case errdefs.Is(err, errdefs.Unauthorized):
		code = codes.Unauthenticated
	case errdefs.Is(err, errdefs.Unavailable):
		code = codes.Unavailable
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
