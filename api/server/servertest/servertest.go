package servertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server"
)

// Handler is the server's routed handler over routers. The middleware logs
// a recovered panic; the fuzz targets see it as a 500 instead, so the log
// is silenced.
func Handler(routers ...router.Router) http.Handler {
	logrus.SetOutput(io.Discard)
	return server.New(server.Config{ServerVersion: "fuzz"}, routers...).Handler()
}

// Do sends one JSON request. version, when not empty, becomes the /vN
// prefix; query is the raw query string, taken as the client sent it.
func Do(h http.Handler, method, version, path, query string, body []byte) *httptest.ResponseRecorder {
	p := path
	if version != "" {
		p = "/v" + version + path
	}
	req := httptest.NewRequest(method, "/", bytes.NewReader(body))
	req.URL = &url.URL{Path: p, RawQuery: query}
	req.RequestURI = req.URL.RequestURI()
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// CheckBody fails on a 500 (the routers' fakes never fail, so a 500 is a
// panic the middleware caught) and on a body that is not JSON yet was not
// refused with a 400. (A 503 for a swarm-only feature is an answer.)
func CheckBody(t *testing.T, rec *httptest.ResponseRecorder, body []byte) {
	t.Helper()
	if rec.Code == http.StatusInternalServerError {
		t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body.String())
	}
	if len(bytes.TrimSpace(body)) > 0 && !json.Valid(body) && rec.Code != http.StatusBadRequest &&
		rec.Code != http.StatusNotFound && rec.Code != http.StatusMovedPermanently {
		t.Fatalf("status %d for invalid JSON body %q: %s", rec.Code, body, rec.Body.String())
	}
}
