package cri

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthd/berth/pkg/errdefs"
)

// criError maps the engine's typed errors of the sandbox, runtime and
// stats calls onto gRPC codes, keeping the message; a status passes as it
// is.
func criError(err error) error {
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

func invalidArgument(msg string) error { return status.Error(codes.InvalidArgument, msg) }
