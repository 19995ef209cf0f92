package cri

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The sandbox, runtime and stats calls map engine errors through
// imageError (image_errors.go), the one errdefs → gRPC table every CRI
// call shares.

func invalidArgument(msg string) error { return status.Error(codes.InvalidArgument, msg) }
