package authz

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berthd/berth/api/server/httputils"
)

// fakePlugin decides with decide and records what it was shown.
type fakePlugin struct {
	name   string
	decide func(method string, r *Request) Response
	seen   []Request
	err    error
}

func (p *fakePlugin) Name() string { return p.name }

func (p *fakePlugin) Call(_ context.Context, method string, args, ret any) error {
	if p.err != nil {
		return p.err
	}
	// Through JSON, as the real plugin sees it.
	b, _ := json.Marshal(args)
	var r Request
	json.Unmarshal(b, &r)
	p.seen = append(p.seen, r)
	res := p.decide(method, &r)
	b, _ = json.Marshal(res)
	return json.Unmarshal(b, ret)
}

func allow(string, *Request) Response { return Response{Allow: true} }

// serve runs one request through the middleware around h, writing errors
// as the server does.
func serve(t *testing.T, m *Middleware, h func(w http.ResponseWriter, r *http.Request) error, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	wrapped := m.Wrap(func(_ context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		return h(w, r)
	})
	if err := wrapped(context.Background(), w, req, nil); err != nil {
		httputils.WriteError(w, err)
	}
	return w
}

func chainOf(plugins ...*fakePlugin) *Middleware {
	byName := map[string]*fakePlugin{}
	var names []string
	for _, p := range plugins {
		byName[p.name] = p
		names = append(names, p.name)
	}
	return &Middleware{
		Chain: func() []string { return names },
		Get: func(_ context.Context, name string) (Plugin, error) {
			if p, ok := byName[name]; ok {
				return p, nil
			}
			return nil, errors.New("not found")
		},
	}
}

func okHandler(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	io.WriteString(w, `{"Id":"abc"}`)
	return nil
}

func TestRequestRefused(t *testing.T) {
	p := &fakePlugin{name: "guard", decide: func(method string, r *Request) Response {
		if r.RequestMethod == "POST" {
			return Response{Msg: "no writes"}
		}
		return Response{Allow: true}
	}}
	called := false
	w := serve(t, chainOf(p), func(w http.ResponseWriter, r *http.Request) error { called = true; return okHandler(w, r) },
		httptest.NewRequest("POST", "/v1.45/containers/create", strings.NewReader("{}")))
	if w.Code != 403 || !strings.Contains(w.Body.String(), "authorization denied by plugin guard: no writes") || called {
		t.Fatalf("refused request: %d %s (handler called %v)", w.Code, w.Body, called)
	}
	w = serve(t, chainOf(p), okHandler, httptest.NewRequest("GET", "/containers/json", nil))
	if w.Code != 201 || w.Body.String() != `{"Id":"abc"}` || len(p.seen) != 3 {
		t.Fatalf("allowed request: %d %s, plugin asked %d times", w.Code, w.Body, len(p.seen))
	}
	if res := p.seen[2]; res.ResponseStatusCode != 201 || string(res.ResponseBody) != `{"Id":"abc"}` || res.ResponseHeaders["Content-Type"] != "application/json" {
		t.Fatalf("response shown: %+v", res)
	}
}

func TestResponseRefused(t *testing.T) {
	p := &fakePlugin{name: "guard", decide: func(method string, r *Request) Response {
		if method == methodResponse && strings.Contains(string(r.ResponseBody), "secret") {
			return Response{Msg: "leaks"}
		}
		return Response{Allow: true}
	}}
	w := serve(t, chainOf(p), func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `"secret"`)
		return nil
	}, httptest.NewRequest("GET", "/info", nil))
	if w.Code != 403 || strings.Contains(w.Body.String(), "secret") || !strings.Contains(w.Body.String(), "authorization denied by plugin guard: leaks") {
		t.Fatalf("refused response: %d %s", w.Code, w.Body)
	}
	// A streamed response is on its way before the plugins see it.
	w = serve(t, chainOf(p), func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `"secret"`)
		w.(http.Flusher).Flush()
		return nil
	}, httptest.NewRequest("GET", "/events", nil))
	if w.Code != 200 || w.Body.String() != `"secret"` {
		t.Fatalf("streamed response: %d %s", w.Code, w.Body)
	}
	// So is one past what is held.
	big := strings.Repeat("x", maxHeld+1)
	w = serve(t, chainOf(p), func(w http.ResponseWriter, _ *http.Request) error {
		io.WriteString(w, "secret")
		io.WriteString(w, big)
		return nil
	}, httptest.NewRequest("GET", "/images/x/get", nil))
	if w.Code != 200 || w.Body.Len() != len(big)+6 {
		t.Fatalf("large response: %d, %d bytes", w.Code, w.Body.Len())
	}
}

func TestWhatPluginsSee(t *testing.T) {
	p := &fakePlugin{name: "guard", decide: allow}
	req := httptest.NewRequest("POST", "/v1.45/containers/create?name=x", strings.NewReader(`{"Image":"busybox"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Registry-Auth", "creds")
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("User-Agent", "Docker-Client/29")
	var got string
	serve(t, chainOf(p), func(w http.ResponseWriter, r *http.Request) error {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		return nil
	}, req)
	if got != `{"Image":"busybox"}` {
		t.Fatalf("handler read %q after the plugins", got)
	}
	r := p.seen[0]
	if string(r.RequestBody) != `{"Image":"busybox"}` || r.RequestURI != "/v1.45/containers/create?name=x" || r.RequestMethod != "POST" {
		t.Fatalf("request shown: %+v", r)
	}
	if _, ok := r.RequestHeaders["X-Registry-Auth"]; ok || r.RequestHeaders["Authorization"] != "" || r.RequestHeaders["User-Agent"] != "Docker-Client/29" {
		t.Fatalf("headers shown: %v", r.RequestHeaders)
	}
	// No body for other types, nor for /auth.
	for _, tc := range []struct{ path, ct string }{{"/build", "application/x-tar"}, {"/v1.45/auth", "application/json"}} {
		p.seen = nil
		req := httptest.NewRequest("POST", tc.path, strings.NewReader(`{"password":"p"}`))
		req.Header.Set("Content-Type", tc.ct)
		serve(t, chainOf(p), okHandler, req)
		if len(p.seen[0].RequestBody) != 0 {
			t.Fatalf("%s: body shown", tc.path)
		}
	}
	req = httptest.NewRequest("POST", "/containers/create", strings.NewReader(strings.Repeat(" ", maxBodySize+1)))
	req.Header.Set("Content-Type", "application/json")
	if w := serve(t, chainOf(p), okHandler, req); w.Code != 400 || !strings.Contains(w.Body.String(), "request body too large for authorization plugin") {
		t.Fatalf("large body: %d %s", w.Code, w.Body)
	}
}

func TestChainOrderAndFailures(t *testing.T) {
	var order []string
	mk := func(name string, ok bool) *fakePlugin {
		return &fakePlugin{name: name, decide: func(method string, _ *Request) Response {
			if method == methodRequest {
				order = append(order, name)
			}
			return Response{Allow: ok, Msg: "no"}
		}}
	}
	w := serve(t, chainOf(mk("a", true), mk("b", false), mk("c", true)), okHandler, httptest.NewRequest("GET", "/info", nil))
	if w.Code != 403 || strings.Join(order, ",") != "a,b" || !strings.Contains(w.Body.String(), "plugin b") {
		t.Fatalf("chain: %d %s, asked %v", w.Code, w.Body, order)
	}
	broken := &fakePlugin{name: "down", err: errors.New("connection refused")}
	w = serve(t, chainOf(broken), okHandler, httptest.NewRequest("GET", "/info", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), "plugin down failed with error: connection refused") {
		t.Fatalf("unreachable plugin: %d %s", w.Code, w.Body)
	}
	m := chainOf()
	m.Chain = func() []string { return []string{"missing"} }
	if w := serve(t, m, okHandler, httptest.NewRequest("GET", "/info", nil)); w.Code != 500 || !strings.Contains(w.Body.String(), "plugin missing failed with error") {
		t.Fatalf("missing plugin: %d %s", w.Code, w.Body)
	}
	var none *Middleware
	if w := serve(t, none, okHandler, httptest.NewRequest("GET", "/info", nil)); w.Code != 201 {
		t.Fatalf("no middleware: %d", w.Code)
	}
	// A handler's error with nothing written is the server's to write.
	w = serve(t, chainOf(mk("a", true)), func(http.ResponseWriter, *http.Request) error { return errors.New("boom") }, httptest.NewRequest("GET", "/info", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("handler error: %d %s", w.Code, w.Body)
	}
}
