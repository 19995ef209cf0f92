package system

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// newRefusingRegistry serves /v2/ with a basic-auth challenge that no
// credentials pass, on loopback, and returns its host:port.
func newRefusingRegistry(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
