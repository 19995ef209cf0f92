package plugin

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginCreateContextStaysInRoot: a plugin build context whose rootfs
// holds a symlink to the host's /tmp, a file written through it, a
// hard link to a host file and a path climbing out writes nothing outside
// the plugin's root.
func TestPluginCreateContextStaysInRoot(t *testing.T) {
	hostDir := t.TempDir()
	secret := filepath.Join(hostDir, "secret")
	if err := os.WriteFile(secret, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	marker := "escape-" + filepath.Base(hostDir)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	add(&tar.Header{Name: "config.json", Typeflag: tar.TypeReg}, `{"Entrypoint":["/x"],"Interface":{"Socket":"x.sock","Types":["docker.volumedriver/1.0"]}}`)
	add(&tar.Header{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "rootfs/out", Typeflag: tar.TypeSymlink, Linkname: hostDir}, "")
	add(&tar.Header{Name: "rootfs/out/" + marker, Typeflag: tar.TypeReg}, "through the link")
	add(&tar.Header{Name: "rootfs/hard", Typeflag: tar.TypeLink, Linkname: secret}, "")
	add(&tar.Header{Name: "rootfs/../../" + marker, Typeflag: tar.TypeReg}, "climbing")
	tw.Close()

	resp, body := d.Do(t, "POST", "/plugins/create?name=escaper", buf.String())
	t.Cleanup(func() { d.Docker("plugin", "rm", "-f", "escaper") })
	if _, err := os.Stat(filepath.Join(hostDir, marker)); err == nil {
		t.Fatalf("plugin create wrote %s on the host (status %d %s)", filepath.Join(hostDir, marker), resp.StatusCode, body)
	}
	if b, _ := os.ReadFile(secret); string(b) != "host" {
		t.Fatalf("host file changed: %q", b)
	}
	for _, p := range []string{filepath.Join(filepath.Dir(d.DataRoot), marker), filepath.Join(d.DataRoot, marker), filepath.Join(d.DataRoot, "plugins", marker)} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("plugin create wrote %s outside the plugin's root", p)
		}
	}
	if resp.StatusCode == 204 {
		id := strings.TrimSpace(d.DockerT(t, "plugin", "inspect", "-f", "{{.Id}}", "escaper"))
		// What went through the link landed inside the root.
		if _, err := os.Stat(filepath.Join(d.DataRoot, "plugins", id, "rootfs", hostDir, marker)); err != nil {
			t.Fatalf("the file written through the link is not in the plugin's root: %v", err)
		}
	}
}
