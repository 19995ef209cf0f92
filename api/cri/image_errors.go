package cri

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthd/berth/pkg/errdefs"
)

// imageError turns an engine error into a gRPC status whose code says
// its class, so crictl and kubelet see NotFound, InvalidArgument, … and
// the engine's message.
func imageError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	switch {
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errdefs.Is(err, errdefs.NotFound):
		code = codes.NotFound
	case errdefs.Is(err, errdefs.InvalidParameter):
		code = codes.InvalidArgument
	case errdefs.Is(err, errdefs.Conflict):
		code = codes.FailedPrecondition
	case errdefs.Is(err, errdefs.Unauthorized):
		code = codes.Unauthenticated
	case errdefs.Is(err, errdefs.Forbidden):
		code = codes.PermissionDenied
	case errdefs.Is(err, errdefs.Unavailable):
		code = codes.Unavailable
	case errdefs.Is(err, errdefs.NotImplemented):
		code = codes.Unimplemented
	}
	return status.Error(code, err.Error())
}
