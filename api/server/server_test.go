package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server/httputils"
)

type testRouter struct{}

func (testRouter) Routes() []router.Route {
	return []router.Route{
		router.Get("/echo-version", func(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
			_, err := io.WriteString(w, httputils.VersionFromContext(ctx))
			return err
		}),
		router.Get("/panic", func(context.Context, http.ResponseWriter, *http.Request, map[string]string) error {
			panic("boom")
		}),
		router.Post("/json", func(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
			var v map[string]any
			if err := httputils.ReadJSON(r, &v); err != nil {
				return err
			}
			return httputils.WriteJSON(w, http.StatusOK, v)
		}),
	}
}

func do(t *testing.T, h http.Handler, method, path, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header()
}

func message(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Message string }
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not a JSON error body: %q", body)
	}
	return e.Message
}

func TestVersionNegotiation(t *testing.T) {
	h := New(Config{ServerVersion: "test"}, testRouter{}).Handler()
	for path, want := range map[string]string{"/echo-version": "1.56", "/v1.24/echo-version": "1.24", "/v1.41/echo-version": "1.41", "/v1.50/echo-version": "1.50"} {
		code, body, hdr := do(t, h, "GET", path, "")
		if code != 200 || body != want {
			t.Errorf("%s: %d %q, want 200 %q", path, code, body, want)
		}
		if hdr.Get("API-Version") != "1.56" || hdr.Get("OSType") != "linux" || hdr.Get("Docker-Experimental") != "false" {
			t.Errorf("%s: headers %v", path, hdr)
		}
	}
	code, body, _ := do(t, h, "GET", "/v1.57/echo-version", "")
	if code != 400 || message(t, body) != "client version 1.57 is too new. Maximum supported API version is 1.56" {
		t.Errorf("too new: %d %s", code, body)
	}
	code, body, _ = do(t, h, "GET", "/v1.12/echo-version", "")
	if code != 400 || message(t, body) != "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version" {
		t.Errorf("too old: %d %s", code, body)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	h := New(Config{ServerVersion: "test"}, testRouter{}).Handler()
	for _, c := range []struct{ method, path string }{{"GET", "/nonexistent"}, {"GET", "/v1.41/nonexistent"}, {"DELETE", "/echo-version"}, {"GET", "/vx/echo-version"}} {
		code, body, hdr := do(t, h, c.method, c.path, "")
		if code != 404 || message(t, body) != "page not found" || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, body)
		}
	}
}

func TestPanicBecomes500(t *testing.T) {
	h := New(Config{ServerVersion: "test"}, testRouter{}).Handler()
	code, body, _ := do(t, h, "GET", "/panic", "")
	if code != 500 || !strings.Contains(message(t, body), "boom") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestJSONBodies(t *testing.T) {
	h := New(Config{ServerVersion: "test"}, testRouter{}).Handler()
	code, body, _ := do(t, h, "POST", "/json", `{"a":1}`, "Content-Type", "application/json")
	if code != 200 || strings.TrimSpace(body) != `{"a":1}` {
		t.Fatalf("good JSON: %d %s", code, body)
	}
	code, body, _ = do(t, h, "POST", "/json", `{"a":`, "Content-Type", "application/json")
	if code != 400 || !strings.HasPrefix(message(t, body), "invalid JSON:") {
		t.Fatalf("malformed JSON: %d %s", code, body)
	}
	code, body, _ = do(t, h, "POST", "/json", `{"a":1} {"b":2}`, "Content-Type", "application/json")
	if code != 400 || message(t, body) != "unexpected content after JSON" {
		t.Fatalf("trailing JSON: %d %s", code, body)
	}
	code, body, _ = do(t, h, "POST", "/json", `{"a":1}`, "Content-Type", "text/plain")
	if code != 400 || !strings.Contains(message(t, body), "must be 'application/json'") {
		t.Fatalf("wrong content type: %d %s", code, body)
	}
	big := `{"a":"` + strings.Repeat("x", httputils.MaxJSONBody) + `"}`
	code, body, _ = do(t, h, "POST", "/json", big, "Content-Type", "application/json")
	if code != 400 || !strings.Contains(message(t, body), "too large") {
		t.Fatalf("oversized body: %d %.200s", code, body)
	}
}
