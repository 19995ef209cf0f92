package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCRIKeysFromFile: the "cri" object sets the CRI settings, and a key
// of it that a flag sets too is a conflict, as for "proxies".
func TestCRIKeysFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(p, []byte(`{"cri": {"enabled": false, "socket": "unix:///k/cri.sock", "sandbox-image": "pause:x",
		"cni-bin-dir": ["/a", "/b"], "cni-conf-dir": "/c", "stream-address": "127.0.0.1:9999"}, "registry-config-dir": "/r"}`), 0o644)
	c := Default()
	if err := MergeFile(c, p, nil); err != nil {
		t.Fatal(err)
	}
	if c.CRIEnabled() || c.CRISocketPath() != "/k/cri.sock" || c.PodSandboxImage() != "pause:x" ||
		strings.Join(c.CNIBinDirList(), ",") != "/a,/b" || c.CNIConfDirPath() != "/c" ||
		c.CRIStreamAddress() != "127.0.0.1:9999" || c.RegistryConfigDirPath() != "/r" {
		t.Fatalf("cri settings from the file: %+v %q", c.CRI, c.RegistryConfigDir)
	}
	d := Default()
	if d.CRIEnabled() != true || d.CRISocketPath() != "/run/berth/cri.sock" || d.PodSandboxImage() != DefaultPodSandboxImage ||
		d.CNIConfDirPath() != DefaultCNIConfDir || d.CRIStreamAddress() != "127.0.0.1:0" {
		t.Fatalf("defaults: %+v", d.CRI)
	}
	err := MergeFile(Default(), p, map[string]string{"socket": "unix:///other.sock"})
	if err == nil || !strings.Contains(err.Error(), "specified both as a flag and in the configuration file: socket") {
		t.Fatalf("flag and file both set the CRI socket: %v", err)
	}
}
