package hosts

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseMirrorsInFileOrderThenServer(t *testing.T) {
	b := []byte(`
server = "https://registry.k8s.io"

[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]

[host."https://mirror.example:8443/base"]
  capabilities = ["pull"]
  ca = "ca.pem"
  client = [["c.cert", "/abs/c.key"], "both.pem"]
  skip_verify = true
  dial_timeout = "3s"
  [host."https://mirror.example:8443/base".header]
    x-custom = "1"
    x-list = ["a", "b"]

[host."https://raw.example/custom/root"]
  override_path = true
  capabilities = ["push", "referrers"]
`)
	c, err := Parse("/etc/hostsdir", b)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mirrors) != 3 {
		t.Fatalf("want 3 mirrors, got %+v", c.Mirrors)
	}
	m0, m1, m2 := c.Mirrors[0], c.Mirrors[1], c.Mirrors[2]
	if m0.Scheme != "http" || m0.Host != "127.0.0.1:5000" || m0.Path != "/v2" || m0.Capabilities != Pull|Resolve || !m0.TLS.Empty() {
		t.Errorf("first mirror: %+v", m0)
	}
	if m1.Scheme != "https" || m1.Host != "mirror.example:8443" || m1.Path != "/base/v2" || m1.Capabilities != Pull {
		t.Errorf("second mirror: %+v", m1)
	}
	if !reflect.DeepEqual(m1.TLS.CAs, []string{"/etc/hostsdir/ca.pem"}) {
		t.Errorf("ca not resolved against the directory: %v", m1.TLS.CAs)
	}
	if want := [][2]string{{"/etc/hostsdir/c.cert", "/abs/c.key"}, {"/etc/hostsdir/both.pem", ""}}; !reflect.DeepEqual(m1.TLS.Clients, want) {
		t.Errorf("clients: %v, want %v", m1.TLS.Clients, want)
	}
	if m1.TLS.SkipVerify == nil || !*m1.TLS.SkipVerify || m1.DialTimeout != 3*time.Second {
		t.Errorf("skip_verify/dial_timeout: %+v", m1)
	}
	if want := (http.Header{"x-custom": {"1"}, "x-list": {"a", "b"}}); !reflect.DeepEqual(m1.Header, want) {
		t.Errorf("header: %v", m1.Header)
	}
	if m2.Path != "/custom/root" || m2.Capabilities != Push {
		t.Errorf("override_path mirror: %+v", m2)
	}
	if c.Server.Scheme != "https" || c.Server.Host != "registry.k8s.io" || c.Server.Path != "/v2" || c.Server.Capabilities != All {
		t.Errorf("server: %+v", c.Server)
	}
}

func TestParseOrderIsTheFileOrder(t *testing.T) {
	// Enough hosts that a map's order would show.
	var sb strings.Builder
	var want []string
	for _, h := range []string{"z", "a", "m", "b", "y", "c", "x", "d"} {
		u := "https://" + h + ".example"
		want = append(want, h+".example")
		sb.WriteString("[host.\"" + u + "\"]\n")
	}
	c, err := Parse("/d", []byte(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range c.Mirrors {
		got = append(got, m.Host)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestParseServerDefaults(t *testing.T) {
	c, err := Parse("/d", []byte(`
capabilities = ["pull", "resolve"]
ca = ["/a.pem", "b.pem"]
[header]
  authorization = "Basic x"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if s.Host != "" || s.Scheme != "" {
		t.Errorf("no server in the file should leave the caller's default: %+v", s)
	}
	if s.Capabilities != Pull|Resolve || !reflect.DeepEqual(s.TLS.CAs, []string{"/a.pem", "/d/b.pem"}) || !reflect.DeepEqual(s.Header, http.Header{"authorization": {"Basic x"}}) {
		t.Errorf("server settings: %+v", s)
	}
	if len(c.Mirrors) != 0 {
		t.Errorf("mirrors: %+v", c.Mirrors)
	}
	// A server without a scheme is https, as containerd reads it.
	c, err = Parse("/d", []byte(`server = "registry.example:5000"`))
	if err != nil || c.Server.Scheme != "https" || c.Server.Host != "registry.example:5000" {
		t.Errorf("schemeless server: %+v %v", c, err)
	}
}

func TestParseRejectsBadInput(t *testing.T) {
	for name, b := range map[string]string{
		"syntax":         `server = `,
		"capability":     "[host.\"https://m\"]\ncapabilities = [\"fly\"]",
		"ca type":        `ca = 3`,
		"client pair":    `client = [["only-one"]]`,
		"header type":    "[header]\nx = 3",
		"dial timeout":   `dial_timeout = "soon"`,
		"server no host": `server = "https://"`,
	} {
		if _, err := Parse("/d", []byte(b)); err == nil {
			t.Errorf("%s: %q parsed", name, b)
		}
	}
}

func TestApiRoot(t *testing.T) {
	for _, tc := range []struct {
		path     string
		override bool
		want     string
	}{
		{"", false, "/v2"},
		{"/", false, "/v2"},
		{"/v2", false, "/v2"},
		{"/v2/", false, "/v2"},
		{"/proxy", false, "/proxy/v2"},
		{"/proxy/", true, "/proxy"},
		{"", true, "/"},
	} {
		if got := apiRoot(tc.path, tc.override); got != tc.want {
			t.Errorf("apiRoot(%q, %v) = %q, want %q", tc.path, tc.override, got, tc.want)
		}
	}
}

func TestDirChoosesHostThenDefault(t *testing.T) {
	root := t.TempDir()
	mk := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if content != "" {
			if err := os.WriteFile(filepath.Join(root, name, FileName), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("registry.k8s.io", "[host.\"http://127.0.0.1:5000\"]\ncapabilities = [\"pull\", \"resolve\"]\n")
	mk("localhost:5000", "server = \"http://localhost:5000\"\n")
	mk("other_5001_", "server = \"http://other:5001\"\n")
	mk("certs-only.example", "")
	for host, want := range map[string]string{
		"registry.k8s.io":    "registry.k8s.io",
		"localhost:5000":     "localhost:5000",
		"other:5001":         "other_5001_",
		"certs-only.example": "certs-only.example",
		"unknown.example":    "",
		"../etc":             "",
	} {
		got, err := Dir(root, host)
		if err != nil {
			t.Fatal(err)
		}
		if want != "" {
			want = filepath.Join(root, want)
		}
		if got != want {
			t.Errorf("Dir(%q) = %q, want %q", host, got, want)
		}
	}

	c, err := Load(root, "registry.k8s.io")
	if err != nil || len(c.Mirrors) != 1 || c.Mirrors[0].Host != "127.0.0.1:5000" || c.Server.Host != "" {
		t.Errorf("Load(registry.k8s.io) = %+v, %v", c, err)
	}
	c, err = Load(root, "certs-only.example")
	if err != nil || len(c.Mirrors) != 0 || c.Dir == "" {
		t.Errorf("a certs.d directory without hosts.toml: %+v, %v", c, err)
	}

	mk(DefaultDir, "[host.\"https://fallback.example\"]\n")
	c, err = Load(root, "unknown.example")
	if err != nil || len(c.Mirrors) != 1 || c.Mirrors[0].Host != "fallback.example" || c.Dir != filepath.Join(root, DefaultDir) {
		t.Errorf("_default: %+v, %v", c, err)
	}

	mk("broken.example", "server = ")
	if _, err := Load(root, "broken.example"); err == nil || !strings.Contains(err.Error(), FileName) {
		t.Errorf("a broken hosts.toml should fail naming the file, got %v", err)
	}
}
