package plugin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/plugin"
)

// A plugin's own symlinks resolve inside its directories: a mountpoint or a
// log FIFO path it reports never names the host's files.
func TestScopeKeepsPluginPathsInside(t *testing.T) {
	m := &Manager{root: t.TempDir()}
	r := &record{Plugin: plugin.Plugin{ID: "p1", Config: plugin.Config{PropagatedMount: "/data"}}}
	prop := filepath.Join(m.dir("p1"), propagatedDir)
	rootfs := filepath.Join(m.dir("p1"), rootfsDir)
	for _, d := range []string{prop, filepath.Join(rootfs, "run", "docker")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// What a hostile plugin makes in its own trees.
	if err := os.Symlink("/", filepath.Join(prop, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(rootfs, "run", "docker", "logging")); err != nil {
		t.Fatal(err)
	}
	scope := m.scope(r)
	for in, want := range map[string]string{
		"/data/v1":                  filepath.Join(prop, "v1"),
		"/data/evil/etc":            filepath.Join(prop, "etc"),
		"/data/../../../etc":        filepath.Join(rootfs, "etc"),
		"/run/docker/logging/fifo1": filepath.Join(rootfs, "etc", "fifo1"),
		"/srv/v2":                   filepath.Join(rootfs, "srv", "v2"),
	} {
		if got := scope(in); got != want {
			t.Errorf("scope(%q) = %q, want %q", in, got, want)
		}
	}
}

// The socket a plugin's config names stays in its socket directory.
func TestSocketPathStaysInSocketDir(t *testing.T) {
	m := &Manager{execRoot: "/exec"}
	r := &record{Plugin: plugin.Plugin{ID: "0123456789abcdef0123456789", Config: plugin.Config{Interface: plugin.Interface{Socket: "../../../etc/shadow"}}}}
	if got, want := m.socketPath(r), "/exec/p/0123456789abcdef0123/shadow"; got != want {
		t.Fatalf("socketPath = %q, want %q", got, want)
	}
}
