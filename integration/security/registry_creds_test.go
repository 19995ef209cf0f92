package security

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

// regcredSpy is a server on another origin than the registry (another
// port of 127.0.0.1) that notes every Authorization header it is sent.
type regcredSpy struct {
	*httptest.Server
	mu   sync.Mutex
	hits int
	auth []string
}

func regcredNewSpy(t *testing.T, h http.HandlerFunc) *regcredSpy {
	s := &regcredSpy{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits++
		if a := r.Header.Get("Authorization"); a != "" {
			s.auth = append(s.auth, r.Method+" "+r.URL.Path+": "+a)
		}
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *regcredSpy) seen() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits, append([]string(nil), s.auth...)
}

// regcredImage is a one-layer image: its layer, config and manifest.
func regcredImage(t *testing.T) (layer, config, manifest []byte) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tb.Bytes())
	zw.Close()
	layer = gz.Bytes()
	config, _ = json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest.FromBytes(tb.Bytes()).String()}},
		"config": map[string]any{"Cmd": []string{"/hello"}},
	})
	manifest, _ = json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.v2+json",
		"config":        map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config), "digest": digest.FromBytes(config).String()},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(layer), "digest": digest.FromBytes(layer).String()}},
	})
	return layer, config, manifest
}

func regcredAuthHeader(user, pw, server string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": pw, "serveraddress": server})
	return base64.URLEncoding.EncodeToString(b)
}

// TestRegistryCredentialsStayHome: pulling every tag of a repository from
// a registry that wants a password, whose tags list pages on to another
// host and whose layer is a 307 to a blob store on another port, must
// not hand that password to either (Go's client keeps Authorization on a
// redirect to another port of the same host).
func TestRegistryCredentialsStayHome(t *testing.T) {
	dd := setup(t)
	layer, config, manifest := regcredImage(t)
	spy := regcredNewSpy(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/tags/list") {
			w.Write([]byte(`{"name":"regcred/x","tags":[]}`))
			return
		}
		w.Write(layer)
	})
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "bob" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="regcred"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		p := r.URL.Path
		switch {
		case p == "/v2/":
		case p == "/v2/regcred/x/tags/list":
			w.Header().Set("Link", `<`+spy.URL+`/v2/regcred/x/tags/list?last=v1>; rel="next"`)
			w.Write([]byte(`{"name":"regcred/x","tags":["v1"]}`))
		case p == "/v2/regcred/x/manifests/v1" || p == "/v2/regcred/x/manifests/"+digest.FromBytes(manifest).String():
			w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
			w.Header().Set("Docker-Content-Digest", digest.FromBytes(manifest).String())
			w.Write(manifest)
		case p == "/v2/regcred/x/blobs/"+digest.FromBytes(config).String():
			w.Write(config)
		case p == "/v2/regcred/x/blobs/"+digest.FromBytes(layer).String():
			http.Redirect(w, r, spy.URL+"/store/"+digest.FromBytes(layer).Encoded()+"?sig=1", http.StatusTemporaryRedirect)
		default:
			http.NotFound(w, r)
		}
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	t.Cleanup(func() { dd.Docker("rmi", "-f", host+"/regcred/x:v1") })

	req, _ := http.NewRequest("POST", "http://engine/images/create?fromImage="+host+"/regcred/x", nil)
	req.Header.Set("X-Registry-Auth", regcredAuthHeader("bob", "pw", host))
	resp, err := dd.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	hits, auth := spy.seen()
	if len(auth) > 0 {
		t.Fatalf("the other host got the registry's credentials: %q", auth)
	}
	if hits < 2 {
		t.Errorf("the other host was asked %d times, want the tags page and the layer (pull: %d %s)", hits, resp.StatusCode, body.String())
	}
	if resp.StatusCode != http.StatusOK || strings.Contains(body.String(), `"error"`) {
		t.Errorf("pull: %d %s", resp.StatusCode, body.String())
	}
}

// TestRegistryTokenRealmElsewhere: docker login to a plain-HTTP registry
// whose bearer challenge names a token realm on another host must not
// send the password there.
func TestRegistryTokenRealmElsewhere(t *testing.T) {
	dd := setup(t)
	spy := regcredNewSpy(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"token":"t"}`))
	})
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+spy.URL+`/token",service="regcred"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	resp, body := dd.Do(t, "POST", "/auth", fmt.Sprintf(`{"username":"bob","password":"pw","serveraddress":%q}`, host))
	if _, auth := spy.seen(); len(auth) > 0 {
		t.Fatalf("the token realm on another plain-HTTP host got the password: %q (login: %d %s)", auth, resp.StatusCode, body)
	}
	if resp.StatusCode == http.StatusOK || !strings.Contains(body, "not sent to token realm") {
		t.Errorf("login: %d %s", resp.StatusCode, body)
	}
}
