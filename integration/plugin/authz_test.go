package plugin

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// authzRequest is the part of dockerd's authorization request the test
// plugin looks at.
type authzRequest struct {
	RequestMethod  string
	RequestURI     string `json:"RequestUri"`
	RequestBody    []byte
	RequestHeaders map[string]string
	ResponseBody   []byte
}

// startAuthzPlugin serves a legacy authorization plugin on
// dir/testauthz.sock: it refuses to create containers labelled deny=1 and
// refuses to let /info's answer out, and records what it is shown.
func startAuthzPlugin(t *testing.T, dir string) (seen func() []authzRequest) {
	t.Helper()
	var mu sync.Mutex
	var reqs []authzRequest
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.2+json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("/Plugin.Activate", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, map[string][]string{"Implements": {"authz"}})
	})
	mux.HandleFunc("/AuthZPlugin.AuthZReq", func(w http.ResponseWriter, r *http.Request) {
		var req authzRequest
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		reqs = append(reqs, req)
		mu.Unlock()
		if strings.Contains(req.RequestURI, "/containers/create") && strings.Contains(string(req.RequestBody), `"deny":"1"`) {
			reply(w, map[string]any{"Allow": false, "Msg": "no creating that"})
			return
		}
		reply(w, map[string]any{"Allow": true})
	})
	mux.HandleFunc("/AuthZPlugin.AuthZRes", func(w http.ResponseWriter, r *http.Request) {
		var req authzRequest
		json.NewDecoder(r.Body).Decode(&req)
		if strings.HasSuffix(strings.SplitN(req.RequestURI, "?", 2)[0], "/info") {
			reply(w, map[string]any{"Allow": false, "Msg": "info is private"})
			return
		}
		reply(w, map[string]any{"Allow": true})
	})
	l, err := net.Listen("unix", filepath.Join(dir, "testauthz.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return func() []authzRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]authzRequest(nil), reqs...)
	}
}

// TestAuthzPlugin: requests and responses go through an authorization
// plugin named in daemon.json; attach still works under it; a reload that
// drops the plugin lets everything through again.
func TestAuthzPlugin(t *testing.T) {
	sockDir := t.TempDir()
	t.Setenv("BERTHD_PLUGIN_SOCKET_DIRS", sockDir)
	t.Setenv("BERTHD_PLUGIN_SPEC_DIRS", sockDir)
	seen := startAuthzPlugin(t, sockDir)
	ad := harness.Fresh(t, harness.Options{Config: `{"authorization-plugins":["testauthz"]}`})
	ad.LoadTestImages(t)

	// An attached run: create, attach (a hijacked connection), start,
	// wait, remove, all allowed.
	if out := strings.TrimSpace(ad.DockerT(t, "run", "--rm", "busybox", "echo", "through authz")); out != "through authz" {
		t.Fatalf("docker run under authz printed %q", out)
	}
	_, stderr, err := ad.Docker("create", "--label", "deny=1", "busybox")
	if err == nil || !strings.Contains(stderr, "authorization denied by plugin testauthz: no creating that") {
		t.Fatalf("denied create: %v %s", err, stderr)
	}
	_, stderr, err = ad.Docker("info")
	if err == nil || !strings.Contains(stderr, "authorization denied by plugin testauthz: info is private") {
		t.Fatalf("denied response: %v %s", err, stderr)
	}
	var sawCreate bool
	for _, r := range seen() {
		if strings.Contains(r.RequestURI, "/containers/create") && r.RequestMethod == "POST" {
			sawCreate = strings.Contains(string(r.RequestBody), `"Image":"busybox"`) && strings.HasPrefix(r.RequestHeaders["User-Agent"], "Docker-Client/")
		}
		if _, ok := r.RequestHeaders["X-Registry-Auth"]; ok {
			t.Fatalf("credentials shown to the plugin: %v", r.RequestHeaders)
		}
	}
	if !sawCreate {
		t.Fatalf("the plugin was not shown the create request and its body: %+v", seen())
	}

	// SIGHUP with the plugin gone from daemon.json.
	if err := os.WriteFile(ad.ConfigFile, []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ad.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, err := ad.Docker("info"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker info still refused after the reload:\n%s", ad.LogTail(10))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
