package registryauth

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"https://r.example/v2/", "https://r.example/token", true},
		{"https://r.example/v2/", "https://R.EXAMPLE:443/x", true},
		{"http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000/x", true},
		{"http://127.0.0.1:5000/v2/", "http://127.0.0.1:5001/x", false},
		{"https://r.example/v2/", "http://r.example/v2/", false},
		{"https://r.example/v2/", "https://cdn.r.example/v2/", false},
		{"https://r.example/v2/", "https://r.example:8443/v2/", false},
	} {
		a, _ := url.Parse(tc.a)
		b, _ := url.Parse(tc.b)
		if got := SameOrigin(a, b); got != tc.same {
			t.Errorf("SameOrigin(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestCheckRealm(t *testing.T) {
	for _, tc := range []struct {
		registry, realm string
		ok              bool
	}{
		{"https://registry-1.docker.io/v2/", "https://auth.docker.io/token", true},
		{"https://r.example/v2/", "https://r.example/token", true},
		{"http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000/token", true},
		{"https://r.example/v2/", "http://auth.example/token", false},
		{"https://r.example/v2/", "http://r.example/token", false},
		{"http://r.example/v2/", "https://auth.example/token", false},
		{"http://127.0.0.1:5000/v2/", "http://127.0.0.1:5001/token", false},
	} {
		reg, _ := url.Parse(tc.registry)
		realm, _ := url.Parse(tc.realm)
		if err := checkRealm(reg, realm); (err == nil) != tc.ok {
			t.Errorf("checkRealm(%s, %s) = %v", tc.registry, tc.realm, err)
		}
	}
}

// tokenServer is a token service that wants bob:pw and notes what
// Authorization it was sent.
type tokenServer struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
}

func newTokenServer(t *testing.T, tls bool, h http.HandlerFunc) *tokenServer {
	ts := &tokenServer{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.auth = append(ts.auth, r.Header.Get("Authorization"))
		ts.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "bob" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"token":"t","refresh_token":"refresh"}`))
	})
	if tls {
		ts.Server = httptest.NewTLSServer(handler)
	} else {
		ts.Server = httptest.NewServer(handler)
	}
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) sent() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.auth...)
}

// bearerRegistry answers /v2/ with a challenge naming realm.
func bearerRegistry(t *testing.T, tls bool, realm *string) *httptest.Server {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+*realm+`",service="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	var s *httptest.Server
	if tls {
		s = httptest.NewTLSServer(h)
	} else {
		s = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

// TestLoginRealmPolicy: the password goes to a token realm on another
// host only when both the registry and the realm are https.
func TestLoginRealmPolicy(t *testing.T) {
	bob := Credentials{Username: "bob", Password: "pw"}
	for _, tc := range []struct {
		name                 string
		regTLS, realmTLS, ok bool
	}{
		{"https registry, https realm elsewhere", true, true, true},
		{"https registry, http realm elsewhere", true, false, false},
		{"http registry, https realm elsewhere", false, true, false},
		{"http registry, http realm elsewhere", false, false, false},
	} {
		ts := newTokenServer(t, tc.realmTLS, nil)
		realm := ts.URL + "/token"
		reg := bearerRegistry(t, tc.regTLS, &realm)
		// httptest's TLS servers share one certificate: one client trusts both.
		client := reg.Client()
		if tc.realmTLS && !tc.regTLS {
			client = ts.Client()
		}
		tok, err := LoginAt(context.Background(), client, reg.URL+"/v2/", bob)
		sent := ts.sent()
		if tc.ok {
			if err != nil || tok != "refresh" || len(sent) != 1 || !strings.HasPrefix(sent[0], "Basic ") {
				t.Errorf("%s: %q %v, realm saw %q", tc.name, tok, err, sent)
			}
			continue
		}
		if err == nil || !errdefs.Is(err, errdefs.Forbidden) || len(sent) != 0 {
			t.Errorf("%s: %v, realm saw %q", tc.name, err, sent)
		}
	}
}

// TestRealmRedirectKeepsCredentialsHome: a realm that redirects to another
// port of the same host does not pass the password on (Go's client would:
// it compares host names only).
func TestRealmRedirectKeepsCredentialsHome(t *testing.T) {
	other := newTokenServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"token":"t"}`))
	})
	var realm string
	var reg *httptest.Server
	reg = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			http.Redirect(w, r, other.URL+"/token?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="test"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer reg.Close()
	realm = reg.URL + "/token"
	u, _ := url.Parse(reg.URL + "/v2/")
	tok, err := FetchToken(context.Background(), reg.Client(), u, map[string]string{"realm": realm}, Credentials{Username: "bob", Password: "pw"}, nil)
	if err != nil || tok.Bearer() != "t" {
		t.Fatalf("%v %v", tok, err)
	}
	if sent := other.sent(); len(sent) != 1 || sent[0] != "" {
		t.Fatalf("the host the realm redirected to saw %q", sent)
	}
}

// A token server's answer is read to a bound: one that streams without
// end costs the daemon neither unbounded memory nor an endless request.
func TestTokenAnswerIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"token":"`))
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for i := 0; i < 1<<14; i++ { // 1 GiB, if it were all read
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		reg, _ := url.Parse(srv.URL)
		tok, err := FetchToken(context.Background(), srv.Client(), reg, map[string]string{"realm": srv.URL + "/token"}, Credentials{}, nil)
		if err != nil || len(tok.Token) > 1<<20 {
			t.Errorf("token of %d bytes, %v", len(tok.Token), err)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("still reading the token answer after 20 s")
	}
}
