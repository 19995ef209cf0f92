package distribution

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/reference"

	"github.com/berthd/berth/image/distribution/hosts"
	"github.com/berthd/berth/pkg/registryauth"
)

func writeHostsToml(t *testing.T, root, host, content string) {
	t.Helper()
	dir := filepath.Join(root, host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, hosts.FileName), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func endpointURLs(t *testing.T, s *Service, ref string) []string {
	t.Helper()
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
		u := *e.base
		u.Path = e.apiRoot() + "/"
		got = append(got, strings.TrimSpace(u.String()+" "+e.caps.String()))
	}
	return got
}

// TestEndpointsFromHostsToml: hosts.toml mirrors come first in file
// order, then registry-mirrors (docker.io), then the server the file
// names or the registry's own.
func TestEndpointsFromHostsToml(t *testing.T) {
	root := t.TempDir()
	writeHostsToml(t, root, "registry.k8s.io", `
server = "https://registry.k8s.io"
[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]
[host."https://mirror.example/prefix"]
  capabilities = ["pull"]
`)
	writeHostsToml(t, root, "docker.io", `
[host."https://hub-mirror.example/raw"]
  override_path = true
`)
	writeHostsToml(t, root, "127.0.0.1_6000_", `server = "http://127.0.0.1:6000"`)
	writeHostsToml(t, root, "10.1.2.3:5000", `
[host."https://10.1.2.3:5443"]
  capabilities = ["push"]
`)
	s := New(nil, t.TempDir(), Config{Mirrors: []string{"http://127.0.0.1:7000/"}, Insecure: []string{"10.0.0.0/8"}, CertsDir: root})
	for ref, want := range map[string][]string{
		"registry.k8s.io/pause:3.9": {"http://127.0.0.1:5000/v2/ pull+resolve", "https://mirror.example/prefix/v2/ pull", "https://registry.k8s.io/v2/ pull+resolve+push"},
		"busybox":                   {"https://hub-mirror.example/raw/ pull+resolve+push", "http://127.0.0.1:7000/v2/ pull+resolve", "https://registry-1.docker.io/v2/ pull+resolve+push"},
		"127.0.0.1:6000/x":          {"http://127.0.0.1:6000/v2/ pull+resolve+push"},
		"10.1.2.3:5000/x":           {"https://10.1.2.3:5443/v2/ push", "https://10.1.2.3:5000/v2/ pull+resolve+push", "http://10.1.2.3:5000/v2/ pull+resolve+push"},
		"quay.example/x":            {"https://quay.example/v2/"},
	} {
		if got := endpointURLs(t, s, ref); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", ref, got, want)
		}
	}

	writeHostsToml(t, root, "broken.example", "server = ")
	named, _ := reference.ParseNormalizedNamed("broken.example/x")
	if _, err := s.endpoints(named); err == nil {
		t.Error("a broken hosts.toml must fail the pull, not be ignored")
	}
}

// TestHostsTomlMirrorServesPulls: a pull goes to the hosts.toml mirror
// under its API root, with its headers, and keeps the registry's
// credentials from a mirror that is not theirs; capabilities decide
// which endpoints an operation may use.
func TestHostsTomlMirrorServesPulls(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("X-Mirror-Token")+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") == "" && r.Header.Get("X-Ask-Auth") == "yes" {
			w.Header().Set("WWW-Authenticate", `Basic realm="m"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer mirror.Close()
	mu2, _ := url.Parse(mirror.URL)

	root := t.TempDir()
	writeHostsToml(t, root, "registry.k8s.io", `
server = "http://127.0.0.1:1"
[host."`+mirror.URL+`/cache"]
  capabilities = ["pull", "resolve"]
  override_path = true
  [host."`+mirror.URL+`/cache".header]
    X-Mirror-Token = "s3cret"
    X-Ask-Auth = "yes"
`)
	s := New(nil, t.TempDir(), Config{CertsDir: root})
	named, _ := reference.ParseNormalizedNamed("registry.k8s.io/pause:3.9")

	run := func(a Auth, push bool) (hosts []string, err error) {
		err = s.forEachEndpoint(context.Background(), named, a, push, func(r *repository) error {
			hosts = append(hosts, r.ep.host)
			req, _ := http.NewRequest(http.MethodGet, r.url("/manifests/3.9"), nil)
			if err := r.authorize(context.Background(), req, "", false); err != nil {
				return err
			}
			r.ep.setHeader(req)
			resp, err := r.ep.client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		})
		return hosts, err
	}

	got, err := run(Auth{Credentials: registryauth.Credentials{Username: "u", Password: "p"}}, false)
	if err != nil || !reflect.DeepEqual(got, []string{mu2.Host}) {
		t.Fatalf("pull went to %v (%v), want the mirror only", got, err)
	}
	want := []string{"/cache/ s3cret ", "/cache/pause/manifests/3.9 s3cret Basic dTpw"}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("mirror saw %q, want %q", seen, want)
	}

	seen = nil
	if _, err := run(Auth{Credentials: registryauth.Credentials{Username: "u", Password: "p", ServerAddress: "registry.k8s.io"}}, false); err != nil {
		t.Fatal(err)
	}
	if want := []string{"/cache/ s3cret ", "/cache/pause/manifests/3.9 s3cret "}; !reflect.DeepEqual(seen, want) {
		t.Errorf("credentials for registry.k8s.io reached the mirror: %q", seen)
	}

	// The mirror cannot push: the push goes to the server (closed
	// port) only.
	seen = nil
	if _, err := run(Auth{}, true); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("push: %v, want the server's connection error", err)
	}
	if len(seen) != 0 {
		t.Errorf("push reached the pull-only mirror: %q", seen)
	}

	// A registry none of whose hosts may push refuses to, saying why.
	writeHostsToml(t, root, "pull-only.example", `
capabilities = ["pull", "resolve"]
[host."`+mirror.URL+`"]
  capabilities = ["pull", "resolve"]
`)
	named, _ = reference.ParseNormalizedNamed("pull-only.example/x:1")
	seen = nil
	if _, err := run(Auth{}, true); err == nil || !strings.Contains(err.Error(), "may push") || len(seen) != 0 {
		t.Errorf("push with no push-capable host: %v, mirror saw %q", err, seen)
	}
}

// TestHostsTomlTLS: a mirror's ca (relative to its directory) makes its
// certificate trusted; skip_verify = false checks a loopback mirror
// (insecure by default) and fails without the CA; true skips the check.
func TestHostsTomlTLS(t *testing.T) {
	mirror := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer mirror.Close()
	root := t.TempDir()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mirror.Certificate().Raw})
	if err := os.MkdirAll(filepath.Join(root, "secure.example"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "secure.example", "mirror-ca.pem"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(nil, t.TempDir(), Config{CertsDir: root})
	named, _ := reference.ParseNormalizedNamed("secure.example/x@sha256:" + strings.Repeat("0", 64))
	ping := func(entry string) error {
		writeHostsToml(t, root, "secure.example", "capabilities = []\n[host.\""+mirror.URL+"\"]\n"+entry)
		eps, err := s.endpoints(named)
		if err != nil {
			return err
		}
		return (&repository{ep: eps[0], name: "x"}).ping(context.Background())
	}
	if err := ping(`ca = "mirror-ca.pem"`); err != nil {
		t.Errorf("mirror with its CA: %v", err)
	}
	if err := ping("skip_verify = false"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("mirror without its CA, verified: %v, want a certificate error", err)
	}
	if err := ping("skip_verify = true"); err != nil {
		t.Errorf("mirror with skip_verify: %v", err)
	}
	if err := ping(`ca = "absent.pem"`); err == nil {
		t.Error("a ca file that does not exist was ignored")
	}
}
