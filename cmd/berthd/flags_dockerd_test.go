package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A dockerd command line with its containerd flags validates; the flags
// still conflict with the same keys in daemon.json, as dockerd's do.
func TestDockerdOnlyFlagsAccepted(t *testing.T) {
	out, err := berthd(t, "--containerd", "/run/x.sock", "--containerd-namespace", "n", "--containerd-plugins-namespace", "np",
		"--config-file", "/dev/null", "--validate")
	if err != nil || !strings.Contains(out, "configuration OK") {
		t.Fatalf("%q %v", out, err)
	}
	f := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(f, []byte(`{"containerd-namespace":"x"}`), 0o644)
	if _, err := berthd(t, "--containerd-namespace", "y", "--config-file", f, "--validate"); err == nil ||
		!strings.Contains(err.Error(), "containerd-namespace: (from flag: y, from file: x)") {
		t.Fatalf("conflict: %v", err)
	}
}
