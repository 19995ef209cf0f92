package distribution

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/distribution/reference"
)

func TestEndpoints(t *testing.T) {
	s := New(nil, t.TempDir(), Config{Mirrors: []string{"http://127.0.0.1:7000/"}, Insecure: []string{"10.0.0.0/8"}, CertsDir: t.TempDir()})
	for ref, want := range map[string][]string{
		"busybox":                {"http://127.0.0.1:7000", "https://registry-1.docker.io"},
		"127.0.0.1:5000/x/y":     {"https://127.0.0.1:5000", "http://127.0.0.1:5000"},
		"10.1.2.3:5000/x":        {"https://10.1.2.3:5000", "http://10.1.2.3:5000"},
		"registry.example.com/x": {"https://registry.example.com"},
	} {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			t.Fatal(err)
		}
		eps, err := s.endpoints(named)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range eps {
			got = append(got, e.base.String())
		}
		if len(got) != len(want) {
			t.Errorf("%s: %v, want %v", ref, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: %v, want %v", ref, got, want)
			}
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
