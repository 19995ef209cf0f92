package cri

import (
	"errors"

	"github.com/berthd/berth/pkg/errdefs"
)

func isNotFound(err error) bool { return errdefs.Is(err, errdefs.NotFound) }

// isNotModified is the engine's "nothing to do" (HTTP 304): a stop of a
// stopped container.
func isNotModified(err error) bool {
	var nm interface{ NotModified() }
	return errors.As(err, &nm)
}
