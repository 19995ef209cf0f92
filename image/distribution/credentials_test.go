package distribution

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/errdefs"
)

// credSpy is a server on another origin that notes every Authorization
// header it is sent.
type credSpy struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
	hits int
}

// newCredSpy listens on addr (another port of 127.0.0.1, or 127.0.0.2:
// both are another origin) and answers with h after noting the header.
func newCredSpy(t *testing.T, addr string, h http.HandlerFunc) *credSpy {
	t.Helper()
	s := &credSpy{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits++
		if a := r.Header.Get("Authorization"); a != "" {
			s.seen = append(s.seen, a)
		}
		s.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *credSpy) check(t *testing.T, what string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hits == 0 {
		t.Errorf("%s: the other host was never asked (the test proves nothing)", what)
	}
	if len(s.seen) > 0 {
		t.Errorf("%s: the other host %s got the registry's credentials: %q", what, s.URL, s.seen)
	}
}

// basicRegistry wants alice:pw on every request and hands the rest to h.
func basicRegistry(t *testing.T, h http.HandlerFunc) *repository {
	t.Helper()
	r := testRepo(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != "alice" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="reg"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h(w, req)
	}))
	r.creds.Username, r.creds.Password = "alice", "pw"
	if err := r.ping(context.Background()); err != nil || r.authScheme() != "basic" {
		t.Fatalf("ping: %v, scheme %q", err, r.authScheme())
	}
	return r
}

// TestTagsLinkKeepsCredentialsHome: the next page of a tags list on
// another host is fetched without the registry's credentials; one on the
// registry itself gets them.
func TestTagsLinkKeepsCredentialsHome(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "127.0.0.2:0"} {
		spy := newCredSpy(t, addr, func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"name":"x","tags":["spy"]}`))
		})
		r := basicRegistry(t, func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Query().Get("page") == "" {
				w.Header().Set("Link", `</v2/x/tags/list?page=2>; rel="next"`)
				w.Write([]byte(`{"name":"x","tags":["a"]}`))
				return
			}
			w.Header().Set("Link", `<`+spy.URL+`/v2/x/tags/list?page=3>; rel="next"`)
			w.Write([]byte(`{"name":"x","tags":["b"]}`))
		})
		tags, err := r.tags(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(tags, ",") != "a,b,spy" {
			t.Errorf("tags %q", tags)
		}
		spy.check(t, "Link to "+addr)
	}
}

// TestBlobRedirectKeepsCredentialsHome: a 307 to a blob store elsewhere,
// even on the same IP (Go's client keeps Authorization for another port)
// does not carry the registry's credentials.
func TestBlobRedirectKeepsCredentialsHome(t *testing.T) {
	blob := []byte("layer bytes served by the storage backend")
	for _, addr := range []string{"127.0.0.1:0", "127.0.0.2:0"} {
		spy := newCredSpy(t, addr, func(w http.ResponseWriter, r *http.Request) { w.Write(blob) })
		r := basicRegistry(t, func(w http.ResponseWriter, req *http.Request) {
			http.Redirect(w, req, spy.URL+"/signed?x=1", http.StatusTemporaryRedirect)
		})
		got, err := r.getBlobBytes(context.Background(), digest.FromBytes(blob))
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("%q %v", got, err)
		}
		spy.check(t, "blob redirect to "+addr)
	}
	// A redirect within the registry keeps them: it still wants them.
	r := basicRegistry(t, func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasPrefix(req.URL.Path, "/store/") {
			http.Redirect(w, req, "/store/b", http.StatusTemporaryRedirect)
			return
		}
		w.Write(blob)
	})
	if got, err := r.getBlobBytes(context.Background(), digest.FromBytes(blob)); err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("same-origin redirect: %q %v", got, err)
	}
}

// TestUploadLocationKeepsCredentialsHome: an upload session the registry
// places on another host gets no credentials either.
func TestUploadLocationKeepsCredentialsHome(t *testing.T) {
	spy := newCredSpy(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", r.URL.Path)
		w.WriteHeader(http.StatusAccepted)
	})
	r := basicRegistry(t, func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Location", spy.URL+"/upload/1")
		w.WriteHeader(http.StatusAccepted)
	})
	loc, err := r.startUpload(context.Background())
	if err != nil || !strings.HasPrefix(loc, spy.URL) {
		t.Fatalf("%q %v", loc, err)
	}
	resp, err := r.do(context.Background(), request{method: http.MethodPatch, url: loc, body: emptyBody})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	spy.check(t, "upload location")
}

// TestTokenRealmOnAnotherPlainHost: a bearer challenge from a plain-HTTP
// registry naming a realm on another host gets no password; the pull
// fails with a clear error instead.
func TestTokenRealmOnAnotherPlainHost(t *testing.T) {
	spy := newCredSpy(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"token":"T0K"}`))
	})
	var reg *httptest.Server
	reg = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer T0K" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+spy.URL+`/token",service="reg"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", MediaTypeDockerManifest)
		w.Write([]byte(`{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":{"digest":"sha256:00"},"layers":[]}`))
	}))
	defer reg.Close()
	u, _ := url.Parse(reg.URL)
	r := &repository{ep: &endpoint{host: u.Host, base: u, client: reg.Client()}, name: "team/app", userAgent: "test"}
	r.creds.Username, r.creds.Password = "alice", "pw"
	if err := r.ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := r.getManifest(context.Background(), "v1")
	if err == nil || !errdefs.Is(err, errdefs.Forbidden) || !strings.Contains(err.Error(), "not sent to token realm") {
		t.Fatalf("got %v, want the realm refused", err)
	}
	spy.mu.Lock()
	hits := spy.hits
	spy.mu.Unlock()
	if hits != 0 {
		t.Fatalf("the realm was asked %d times", hits)
	}
	// Anonymous pulls have nothing to leak: the realm is used.
	anon := &repository{ep: r.ep, name: "team/app", userAgent: "test"}
	if err := anon.ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := anon.getManifest(context.Background(), "v1"); err != nil {
		t.Fatalf("anonymous: %v", err)
	}
}

// TestChallengeFromRedirectTarget: the registry's /v2/ redirects to
// another origin whose 401 names a plain-HTTP realm on itself. That
// challenge is not the registry's: the realm must not be judged "the
// registry itself" and get the password.
func TestChallengeFromRedirectTarget(t *testing.T) {
	var spy *credSpy
	spy = newCredSpy(t, "127.0.0.2:0", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			w.Write([]byte(`{"token":"T0K"}`))
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+spy.URL+`/token",service="reg"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	r := testRepo(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v2/" {
			http.Redirect(w, req, spy.URL+"/v2/", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", MediaTypeDockerManifest)
		w.Write([]byte(`{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":{"digest":"sha256:00"},"layers":[]}`))
	}))
	r.creds.Username, r.creds.Password = "alice", "pw"
	if err := r.ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := r.getManifest(context.Background(), "v1")
	spy.check(t, "challenge after a redirect to 127.0.0.2")
	if err != nil {
		t.Errorf("manifest: %v", err)
	}
}
