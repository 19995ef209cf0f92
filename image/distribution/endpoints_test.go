package distribution

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
)

func TestEndpoints(t *testing.T) {
	s := New(nil, t.TempDir(), Config{Mirrors: []string{"http://127.0.0.1:7000/"}, Insecure: []string{"10.0.0.0/8"}, CertsDir: t.TempDir()})
	for ref, want := range map[string][]string{
		"busybox":                {"http://127.0.0.1:7000/v2/ pull+resolve", "https://registry-1.docker.io/v2/"},
		"127.0.0.1:5000/x/y":     {"https://127.0.0.1:5000/v2/", "http://127.0.0.1:5000/v2/"},
		"10.1.2.3:5000/x":        {"https://10.1.2.3:5000/v2/", "http://10.1.2.3:5000/v2/"},
		"registry.example.com/x": {"https://registry.example.com/v2/"},
	} {
		if got := endpointURLs(t, s, ref); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, want %q", ref, got, want)
		}
	}
}

// TestBearerAuth: the challenge sends berth to the token service with
// the credentials and the repository scope; the token is then used.
func TestBearerAuth(t *testing.T) {
	var srv *httptest.Server
	tokens := 0
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			u, p, _ := r.BasicAuth()
			if u != "alice" || p != "pw" || r.URL.Query().Get("scope") != "repository:team/app:pull" || r.URL.Query().Get("service") != "reg" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			tokens++
			w.Write([]byte(`{"token":"T0K"}`))
		default:
			if r.Header.Get("Authorization") != "Bearer T0K" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="reg"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", MediaTypeDockerManifest)
			w.Write([]byte(`{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":{"digest":"sha256:00"},"layers":[]}`))
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	r := &repository{ep: &endpoint{host: u.Host, base: u, client: srv.Client()}, name: "team/app", userAgent: "test"}
	r.creds.Username, r.creds.Password = "alice", "pw"
	if err := r.ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, _, _, err := r.getManifest(context.Background(), "v1"); err != nil {
			t.Fatal(err)
		}
	}
	if tokens != 1 {
		t.Errorf("%d token requests, want 1 (cached)", tokens)
	}
	r2 := &repository{ep: r.ep, name: "team/app", userAgent: "test"}
	r2.creds.Username, r2.creds.Password = "alice", "wrong"
	r2.ping(context.Background())
	if _, _, _, err := r2.getManifest(context.Background(), "v1"); err == nil {
		t.Error("wrong password accepted")
	}
}
