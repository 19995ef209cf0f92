package errdefs

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/containerd/errdefs/pkg/errhttp"
)

func TestClassesMapToStatusAndKeepMessage(t *testing.T) {
	cases := []struct {
		err  error
		code int
	}{
		{NotFoundf("No such container: %s", "x"), http.StatusNotFound},
		{InvalidParameter(errors.New("bad")), http.StatusBadRequest},
		{Conflictf("in use"), http.StatusConflict},
		{Forbidden(errors.New("no")), http.StatusForbidden},
		{Unauthorized(errors.New("who")), http.StatusUnauthorized},
		{Unavailable(errors.New("later")), http.StatusServiceUnavailable},
		{NotImplemented(errors.New("todo")), http.StatusNotImplemented},
		{System(errors.New("boom")), http.StatusInternalServerError},
		{errors.New("plain"), http.StatusInternalServerError},
	}
	for _, c := range cases {
		wrapped := fmt.Errorf("context: %w", c.err)
		if got := errhttp.ToHTTP(wrapped); got != c.code {
			t.Errorf("%v: status %d, want %d", c.err, got, c.code)
		}
	}
	if NotFoundf("No such image: %s", "y").Error() != "No such image: y" {
		t.Fatal("message changed by wrapping")
	}
	if !Is(fmt.Errorf("x: %w", NotFoundf("y")), NotFound) || Is(NotFoundf("y"), Conflict) {
		t.Fatal("Is wrong")
	}
}
