package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// docker diff asks the image's layers whether a changed path existed: a
// symlink of the image on the way must resolve inside the layer, not on
// the host.
func TestInLowerDirsStaysInLayer(t *testing.T) {
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "probe"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	lower := t.TempDir()
	if err := os.Symlink(host, filepath.Join(lower, "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(lower, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nowhere", filepath.Join(lower, "etc/link")); err != nil {
		t.Fatal(err)
	}
	// The lookup by path that this replaces is fooled here.
	if _, err := os.Lstat(filepath.Join(lower, "a/probe")); err != nil {
		t.Fatalf("setup: %v", err)
	}
	lowers := openLowerDirs([]string{filepath.Join(t.TempDir(), "missing"), lower})
	defer func() {
		for _, l := range lowers {
			l.Close()
		}
	}()
	for rel, want := range map[string]bool{
		"/a/probe":  false, // the host's file, through the image's symlink
		"/a":        true,  // the symlink itself
		"/etc/link": true,  // a dangling one too: not followed
		"/etc":      true,
		"/etc/x":    false,
		"/":         false,
	} {
		if got := inLowerDirs(lowers, rel); got != want {
			t.Errorf("%s: %v, want %v", rel, got, want)
		}
	}
	// A symlink inside the layer is followed there.
	if err := os.MkdirAll(filepath.Join(lower, host), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lower, host, "probe"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !inLowerDirs(lowers, "/a/probe") {
		t.Error("/a/probe inside the layer not found")
	}
}
