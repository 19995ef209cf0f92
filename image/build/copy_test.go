package build

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The sum of a file is dockerd 20.10's: this is the COPY line of its
// history for a 4096-byte file of '1's, mode 0644, owned by root.
func TestHashSourceIsDockerds(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the sum covers the owner, which must be root")
	}
	root := t.TempDir()
	p := filepath.Join(root, "f1")
	if err := os.WriteFile(p, bytes.Repeat([]byte("1"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o644)
	got, err := hashSource(source{root: root, path: p})
	if err != nil {
		t.Fatal(err)
	}
	if want := "file:c040226f3c8f83adab1cf8934fc2483477dc08a4a060b055deeeed2ff57b5384"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	// A directory's sum changes with a file's content or name below it.
	d := filepath.Join(root, "d")
	os.MkdirAll(filepath.Join(d, "sub"), 0o755)
	os.WriteFile(filepath.Join(d, "sub", "a"), []byte("a"), 0o644)
	h1, _ := hashSource(source{root: root, path: d, isDir: true})
	os.WriteFile(filepath.Join(d, "sub", "a"), []byte("b"), 0o644)
	h2, _ := hashSource(source{root: root, path: d, isDir: true})
	os.Rename(filepath.Join(d, "sub", "a"), filepath.Join(d, "sub", "c"))
	h3, _ := hashSource(source{root: root, path: d, isDir: true})
	if h1 == h2 || h2 == h3 || h1[:4] != "dir:" {
		t.Fatalf("dir sums %s %s %s", h1, h2, h3)
	}
}
