package cri

import (
	"errors"

	"github.com/berthd/berth/pkg/errdefs"
)

// toStatus is the gRPC status of an engine error: its class's code
// (images21's table, which every CRI call shares) and its message.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	return imageError(err)
}

func isNotFound(err error) bool { return errdefs.Is(err, errdefs.NotFound) }

// isNotModified is the engine's "nothing to do" (HTTP 304): a stop of a
// stopped container.
func isNotModified(err error) bool {
	var nm interface{ NotModified() }
	return errors.As(err, &nm)
}
