package system

import (
	"net/http"
	"strings"
	"testing"
)

// compatNoSwarm is dockerd's text for cluster requests on a node outside a
// swarm.
const compatNoSwarm = `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`

// TestCompatPluginsEmptyStore: the plugin endpoints answer as dockerd does
// with no plugin installed (moby's test suite lists plugins in every
// set-up).
func TestCompatPluginsEmptyStore(t *testing.T) {
	for _, c := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/plugins", "", 200, ""},
		{"GET", "/v1.24/plugins?filters=%7B%22enabled%22%3A%7B%22true%22%3Atrue%7D%7D", "", 200, ""},
		{"GET", "/plugins?filters=%7B%22bogus%22%3A%7B%22x%22%3Atrue%7D%7D", "", 400, "invalid filter 'bogus'"},
		{"GET", "/plugins/x/json", "", 404, `plugin "x" not found`},
		{"GET", "/plugins/vieux/sshfs:latest/json", "", 404, `plugin "vieux/sshfs:latest" not found`},
		{"DELETE", "/plugins/x", "", 404, `plugin "x" not found`},
		{"POST", "/plugins/x/enable?timeout=0", "", 404, `plugin "x" not found`},
		{"POST", "/plugins/x/disable", "", 404, `plugin "x" not found`},
		{"POST", "/plugins/x/set", `["a=b"]`, 404, `plugin "x" not found`},
	} {
		resp, body := get(t, c.method, c.path, c.body)
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, body, c.code)
			continue
		}
		if c.code == 200 {
			if body != "[]\n" && body != "[]" {
				t.Errorf("%s %s: %q, want []", c.method, c.path, body)
			}
		} else if m := errorMessage(t, body); m != c.want {
			t.Errorf("%s %s: %q, want %q", c.method, c.path, m, c.want)
		}
	}
}

// TestCompatNoSwarm: swarm-mode endpoints give dockerd's 503s on a node in
// no swarm, through the docker CLI as users see them.
func TestCompatNoSwarm(t *testing.T) {
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/swarm", compatNoSwarm},
		{"POST", "/swarm/leave", "This node is not part of a swarm"},
		{"GET", "/services", compatNoSwarm},
		{"GET", "/nodes", compatNoSwarm},
		{"GET", "/tasks", compatNoSwarm},
		{"GET", "/secrets", compatNoSwarm},
		{"GET", "/configs/abc", compatNoSwarm},
	} {
		resp, body := get(t, c.method, c.path, "")
		if resp.StatusCode != http.StatusServiceUnavailable || errorMessage(t, body) != c.want {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}
	resp, body := get(t, "GET", "/v1.29/configs", "")
	if resp.StatusCode != 400 || errorMessage(t, body) != "GET /configs requires minimum API version 1.30" {
		t.Errorf("configs at 1.29: %d %s", resp.StatusCode, body)
	}
	_, stderr, err := d.Docker("node", "ls")
	if err == nil || !strings.Contains(stderr, compatNoSwarm) {
		t.Errorf("docker node ls: %v %s", err, stderr)
	}
	if _, stderr, err := d.Docker("plugin", "ls"); err != nil {
		t.Errorf("docker plugin ls: %v %s", err, stderr)
	}
}
