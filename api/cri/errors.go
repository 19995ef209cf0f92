package cri

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthd/berth/pkg/errdefs"
)

// errorCodes map the engine's error classes to gRPC codes.
var errorCodes = []struct {
	class func(error) error
	code  codes.Code
}{
	{errdefs.NotFound, codes.NotFound},
	{errdefs.InvalidParameter, codes.InvalidArgument},
	{errdefs.Conflict, codes.FailedPrecondition},
	{errdefs.Unauthorized, codes.Unauthenticated},
	{errdefs.Forbidden, codes.PermissionDenied},
	{errdefs.Unavailable, codes.Unavailable},
	{errdefs.NotImplemented, codes.Unimplemented},
}

// grpcError turns an engine error into a gRPC status whose code says its
// class, so crictl and kubelet see NotFound, InvalidArgument, … and the
// engine's message. Every CRI call answers its errors through it.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	for _, c := range errorCodes {
		if errdefs.Is(err, c.class) {
			return status.Error(c.code, err.Error())
		}
	}
	return status.Error(codes.Unknown, err.Error())
}

func invalidArgument(msg string) error { return status.Error(codes.InvalidArgument, msg) }

func isNotFound(err error) bool { return errdefs.Is(err, errdefs.NotFound) }

// isNotModified is the engine's "nothing to do" (HTTP 304): a stop of a
// stopped container.
func isNotModified(err error) bool {
	var nm interface{ NotModified() }
	return errors.As(err, &nm)
}
