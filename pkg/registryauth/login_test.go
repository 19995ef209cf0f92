package registryauth

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestHost(t *testing.T) {
	for in, want := range map[string]string{
		"":                            DefaultRegistry,
		"https://index.docker.io/v1/": DefaultRegistry,
		"docker.io":                   DefaultRegistry,
		"127.0.0.1:5000":              "127.0.0.1:5000",
		"http://reg.example:5000/x":   "reg.example:5000",
	} {
		if got := Host(in); got != want {
			t.Errorf("Host(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseChallenge(t *testing.T) {
	s, p := ParseChallenge(`Bearer realm="https://auth.example/token",service="registry.example",scope="a,b"`)
	if s != "Bearer" || p["realm"] != "https://auth.example/token" || p["service"] != "registry.example" || p["scope"] != "a,b" {
		t.Fatalf("got %s %v", s, p)
	}
}

func TestBasicLogin(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok && u == "alice" && p == "secret" {
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if _, err := Login(context.Background(), Credentials{Username: "alice", Password: "secret", ServerAddress: addr}, Options{}); err != nil {
		t.Fatalf("good credentials refused: %v", err)
	}
	_, err := Login(context.Background(), Credentials{Username: "alice", Password: "wrong", ServerAddress: addr}, Options{})
	if err == nil || !errdefs.Is(err, errdefs.Unauthorized) {
		t.Fatalf("bad credentials: %v", err)
	}
}

func TestBearerLogin(t *testing.T) {
	var tokenURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/":
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+tokenURL+`",service="test"`)
			w.WriteHeader(http.StatusUnauthorized)
		case "/token":
			if u, p, ok := r.BasicAuth(); !ok || u != "bob" || p != "pw" || r.URL.Query().Get("service") != "test" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Write([]byte(`{"token":"t","refresh_token":"refresh"}`))
		}
	}))
	defer srv.Close()
	tokenURL = srv.URL + "/token"
	addr := strings.TrimPrefix(srv.URL, "http://")
	tok, err := Login(context.Background(), Credentials{Username: "bob", Password: "pw", ServerAddress: addr}, Options{})
	if err != nil || tok != "refresh" {
		t.Fatalf("login = %q, %v", tok, err)
	}
	if _, err := Login(context.Background(), Credentials{Username: "bob", Password: "no", ServerAddress: addr}, Options{}); err == nil || !strings.Contains(err.Error(), "incorrect username or password") {
		t.Fatalf("bad password: %v", err)
	}
}

// A login whose /v2/ redirects to another origin does not answer that
// origin's challenge with the credentials, even when it names a realm on
// itself.
func TestLoginChallengeFromRedirectTarget(t *testing.T) {
	var got []string
	other := httptest.NewUnstartedServer(nil)
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	other.Listener.Close()
	other.Listener = l
	other.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			got = append(got, a)
		}
		if r.URL.Path == "/token" {
			w.Write([]byte(`{"token":"t","refresh_token":"refresh"}`))
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+other.URL+`/token",service="x"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	other.Start()
	defer other.Close()
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/v2/", http.StatusFound)
	}))
	defer reg.Close()
	_, err = LoginAt(context.Background(), reg.Client(), reg.URL+"/v2/", Credentials{Username: "bob", Password: "pw"})
	if len(got) > 0 {
		t.Errorf("credentials went to %s: %q", other.URL, got)
	}
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Errorf("login: %v", err)
	}
}
