package cri

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/berthd/berth/integration/internal/harness"
)

// imageRegistry is a docker-registry the test started on loopback, plain
// HTTP, with htpasswd basic auth when user is set. It never is the
// critest kit's 127.0.0.1:5000: its port is free and its own.
type imageRegistry struct {
	Addr       string
	user, pass string
}

func startImageRegistry(t *testing.T, user, pass string) *imageRegistry {
	t.Helper()
	root := t.TempDir()
	r := &imageRegistry{Addr: fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)), user: user, pass: pass}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: %s\n", root, r.Addr)
	if user != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "htpasswd"), []byte(user+":"+string(h)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: berth-cri-test\n    path: %s/htpasswd\n", root)
	}
	if err := os.WriteFile(filepath.Join(root, "config.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	harness.ServeRegistry(t, root, func() error {
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	return r
}

// mirrorFor writes dir/<registry>/hosts.toml sending registry's pulls to
// r, as the critest kit's README does for registry.k8s.io.
func (r *imageRegistry) mirrorFor(t *testing.T, dir, registry string) {
	t.Helper()
	toml := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "https://"+registry, "http://"+r.Addr)
	if err := os.MkdirAll(filepath.Join(dir, registry), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, registry, "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// push tags src as r's repo:tag and pushes it with dm's docker CLI,
// logging in first when r wants credentials; it returns the manifest
// digest.
func (r *imageRegistry) push(t *testing.T, dm *harness.Daemon, src, repoTag string) string {
	t.Helper()
	ref := r.Addr + "/" + repoTag
	dm.DockerT(t, "tag", src, ref)
	if r.user != "" {
		dm.DockerT(t, "login", "-u", r.user, "-p", r.pass, r.Addr)
		defer dm.Docker("logout", r.Addr)
	}
	out := dm.DockerT(t, "push", ref)
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "digest: sha256:"); i >= 0 {
			return strings.Fields(line[i+len("digest: "):])[0]
		}
	}
	t.Fatalf("push %s: no digest in\n%s", ref, out)
	return ""
}
