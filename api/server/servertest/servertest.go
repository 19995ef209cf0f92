package servertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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

// Case is one request of a router's table test and what must come back.
type Case struct {
	Name string
	// Method defaults to GET; Version, when set, is the /vN prefix.
	Method, Version, Path, Query string
	Body                         string
	Status                       int
	// Contains are substrings the response body must hold (the message
	// of an error, a field of a JSON answer).
	Contains []string
	// Check, when set, looks at the response once the status matched:
	// what the fake backend was asked, the decoded body.
	Check func(t *testing.T, rec *httptest.ResponseRecorder)
}

// Run sends each case through h and checks its status and body. before,
// when set, runs ahead of each case (to reset a fake backend).
func Run(t *testing.T, h http.Handler, before func(), cases []Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			if before != nil {
				before()
			}
			method := tc.Method
			if method == "" {
				method = http.MethodGet
			}
			var body []byte
			if tc.Body != "" {
				body = []byte(tc.Body)
			}
			rec := Do(h, method, tc.Version, tc.Path, tc.Query, body)
			if rec.Code != tc.Status {
				t.Fatalf("%s %s?%s: status %d, want %d: %s", method, tc.Path, tc.Query, rec.Code, tc.Status, rec.Body.String())
			}
			for _, s := range tc.Contains {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("body %q does not contain %q", rec.Body.String(), s)
				}
			}
			if tc.Check != nil {
				tc.Check(t, rec)
			}
		})
	}
}
