package registry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pluginContext writes a plugin build context whose rootfs holds one file
// and whose config asks for the host network and a capability, so that
// installing it has privileges to grant. Nothing runs it.
func pluginContext(t *testing.T, description string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "rootfs", "etc", "motd"), []byte(description+"\n"), 0o644)
	cfg, _ := json.Marshal(map[string]any{
		"Description": description, "Documentation": "https://example.invalid",
		"Entrypoint": []string{"/plugin"},
		"Interface":  map[string]any{"Socket": "p.sock", "Types": []string{"docker.volumedriver/1.0"}},
		"Network":    map[string]any{"Type": "host"},
		"Linux":      map[string]any{"Capabilities": []string{"CAP_SYS_ADMIN"}},
	})
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	return dir
}

// TestPluginPushInstallUpgrade: a plugin made with `docker plugin create`
// is pushed, installed back under an alias once its privileges are
// granted, and upgraded in place from a second tag.
func TestPluginPushInstallUpgrade(t *testing.T) {
	r := startRegistry(t, plainHTTP)
	ref := r.Addr + "/plugins/motd:1.0"
	ref2 := r.Addr + "/plugins/motd:2.0"
	t.Cleanup(func() {
		for _, n := range []string{ref, ref2, "motd-alias"} {
			d.Docker("plugin", "rm", "-f", n)
		}
	})
	d.DockerT(t, "plugin", "create", ref, pluginContext(t, "first"))
	out := d.DockerT(t, "plugin", "push", ref)
	if !strings.Contains(out, "1.0: digest: sha256:") {
		t.Fatalf("push output: %s", out)
	}
	d.DockerT(t, "plugin", "create", ref2, pluginContext(t, "second"))
	d.DockerT(t, "plugin", "push", ref2)

	// What an install asks the user to grant.
	resp, body := d.Do(t, "GET", "/plugins/privileges?remote="+ref, "")
	if resp.StatusCode != 200 {
		t.Fatalf("privileges: %d %s", resp.StatusCode, body)
	}
	var privs []struct {
		Name  string
		Value []string
	}
	json.Unmarshal([]byte(body), &privs)
	got := map[string]string{}
	for _, p := range privs {
		got[p.Name] = strings.Join(p.Value, ",")
	}
	if got["network"] != "host" || got["capabilities"] != "CAP_SYS_ADMIN" || len(got) != 2 {
		t.Fatalf("privileges: %s", body)
	}
	// Granting less than the config asks is refused.
	resp, body = d.Do(t, "POST", "/plugins/pull?remote="+ref+"&name=motd-alias", "[]")
	if !strings.Contains(body, "incorrect privileges") {
		t.Fatalf("pull without privileges: %d %s", resp.StatusCode, body)
	}
	d.DockerT(t, "plugin", "install", "--disable", "--grant-all-permissions", "--alias", "motd-alias", ref)
	desc := strings.TrimSpace(d.DockerT(t, "plugin", "inspect", "-f", "{{.Config.Description}} {{.Enabled}} {{.PluginReference}}", "motd-alias"))
	if desc != "first false "+ref {
		t.Fatalf("installed plugin: %q", desc)
	}
	id := strings.TrimSpace(d.DockerT(t, "plugin", "inspect", "-f", "{{.Id}}", "motd-alias"))
	rootfs := filepath.Join(d.DataRoot, "plugins", id, "rootfs", "etc", "motd")
	if b, err := os.ReadFile(rootfs); err != nil || string(b) != "first\n" {
		t.Fatalf("installed rootfs: %q %v", b, err)
	}
	// Another tag of the same repository: the CLI asks unless told not to.
	d.DockerT(t, "plugin", "upgrade", "--skip-remote-check", "--grant-all-permissions", "motd-alias", ref2)
	desc = strings.TrimSpace(d.DockerT(t, "plugin", "inspect", "-f", "{{.Id}} {{.Config.Description}} {{.PluginReference}}", "motd-alias"))
	if desc != id+" second "+ref2 {
		t.Fatalf("upgraded plugin: %q", desc)
	}
	if b, err := os.ReadFile(rootfs); err != nil || string(b) != "second\n" {
		t.Fatalf("upgraded rootfs: %q %v", b, err)
	}
}
