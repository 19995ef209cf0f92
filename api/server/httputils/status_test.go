package httputils

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
)

type invalidVersion struct{}

func (invalidVersion) Error() string     { return "client version 1.1 is too old" }
func (invalidVersion) InvalidParameter() {}

func TestStatusForOutermostClassWins(t *testing.T) {
	notFound := errdefs.NotFoundf("No such image: x")
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"not found", notFound, http.StatusNotFound},
		{"wrapped by fmt", fmt.Errorf("inspect: %w", notFound), http.StatusNotFound},
		{"invalid wrapping not found", errdefs.InvalidParameter(fmt.Errorf("bad reference: %w", notFound)), http.StatusBadRequest},
		{"not found wrapping invalid", errdefs.NotFound(errdefs.InvalidParameterf("x")), http.StatusNotFound},
		{"conflict wrapping not found", errdefs.Conflict(notFound), http.StatusConflict},
		{"system wrapping not found", errdefs.System(notFound), http.StatusInternalServerError},
		{"fmt, then invalid, then not found", fmt.Errorf("create: %w", errdefs.InvalidParameter(notFound)), http.StatusBadRequest},
		{"joined: first classified wins", errors.Join(errors.New("plain"), errdefs.Conflictf("in use"), notFound), http.StatusConflict},
		{"own marker type", invalidVersion{}, http.StatusBadRequest},
		{"forbidden", errdefs.Forbidden(errors.New("no")), http.StatusForbidden},
		{"unauthorized", errdefs.Unauthorized(errors.New("who")), http.StatusUnauthorized},
		{"unavailable", errdefs.Unavailable(errors.New("later")), http.StatusServiceUnavailable},
		{"not implemented", errdefs.NotImplemented(errors.New("todo")), http.StatusNotImplemented},
		{"unclassified", errors.New("boom"), http.StatusInternalServerError},
		{"body too large", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1}), http.StatusBadRequest},
		{"client gone", fmt.Errorf("pull: %w", context.Canceled), 499},
	} {
		if got := StatusFor(tc.err); got != tc.want {
			t.Errorf("%s: StatusFor(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}
