package buildkit

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// startRegistry runs Debian's docker-registry on 127.0.0.1 (plain HTTP; a
// loopback registry is insecure to dockerd and berth by default) for one
// test and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: %s\n", root, addr)
	if err := os.WriteFile(filepath.Join(root, "config.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	registryRoots.Store(addr, root)
	c := &http.Client{Timeout: 5 * time.Second}
	harness.ServeRegistry(t, root, func() error {
		resp, err := c.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	return addr
}

// registryRoots maps a started registry's address to its root, where
// harness.ServeRegistry keeps its log.
var registryRoots sync.Map

// manifestPuts counts the manifest uploads to repo:tag in the access log
// of the registry at addr.
func manifestPuts(t *testing.T, addr, repo, tag string) int {
	t.Helper()
	return strings.Count(registryLog(t, addr), `"PUT /v2/`+repo+`/manifests/`+tag+` `)
}

// blobGets counts the blob downloads from repo in the access log of the
// registry at addr.
func blobGets(t *testing.T, addr, repo string) int {
	t.Helper()
	return strings.Count(registryLog(t, addr), `"GET /v2/`+repo+`/blobs/`)
}

// registryLog is the log (access log included) of the registry at addr.
func registryLog(t *testing.T, addr string) string {
	t.Helper()
	root, ok := registryRoots.Load(addr)
	if !ok {
		t.Fatalf("no registry started at %s", addr)
	}
	b, err := os.ReadFile(filepath.Join(root.(string), "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// registryGet fetches a registry API path (manifests with the OCI and
// Docker media types accepted) and returns the status and body.
func registryGet(t *testing.T, addr, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
