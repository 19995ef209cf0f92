package layer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
}

// A 120-layer image: absolute lowerdirs overflow the page the kernel takes
// for mount options; the short aliases fit, and the overlay shows the
// files of the base, a middle and the top layer, with a whiteout applied.
func TestMountDeepImage(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	s, err := New(filepath.Join(root, "layers"))
	if err != nil {
		t.Fatal(err)
	}
	const depth = 120
	var chain digest.Digest
	for i := 0; i < depth; i++ {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		add := func(name, data string) {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
			tw.Write([]byte(data))
		}
		add(fmt.Sprintf("f%03d", i), fmt.Sprint(i))
		add("shared", fmt.Sprint(i))
		if i == depth-1 {
			add(".wh.f001", "")
		}
		tw.Close()
		next := commit(t, s, buf.Bytes(), chain)
		if chain != "" {
			s.Release(chain) // the child holds its parent
		}
		chain = next
	}
	dirs, err := s.DiffDirs(chain)
	if err != nil || len(dirs) != depth {
		t.Fatalf("dirs: %d %v", len(dirs), err)
	}
	if long := len("lowerdir=" + strings.Join(dirs, ":")); long < unix.Getpagesize() {
		t.Fatalf("absolute lowerdirs take only %d bytes; the test proves nothing", long)
	}
	links, err := s.Links(chain)
	if err != nil || len(links) != depth {
		t.Fatalf("links: %d %v", len(links), err)
	}
	for i, l := range links {
		got, err := filepath.EvalSymlinks(filepath.Join(s.Root(), l))
		want, _ := filepath.EvalSymlinks(dirs[i])
		if err != nil || got != want {
			t.Fatalf("link %s -> %s (%v), want %s", l, got, err, want)
		}
	}

	upper, work, merged := filepath.Join(root, "upper"), filepath.Join(root, "work"), filepath.Join(root, "merged")
	for _, d := range []string{upper, work, merged} {
		os.Mkdir(d, 0o755)
	}
	if err := MountOverlay(s.Root(), links, upper, work, merged); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	for name, want := range map[string]string{"f000": "0", "f060": "60", "f119": "119", "shared": "119"} {
		if b, err := os.ReadFile(filepath.Join(merged, name)); err != nil || string(b) != want {
			t.Fatalf("%s = %q %v, want %q", name, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(merged, "f001")); !os.IsNotExist(err) {
		t.Fatalf("whiteout not applied: %v", err)
	}
	if err := os.WriteFile(filepath.Join(merged, "new"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(upper, "new")); err != nil {
		t.Fatal("write did not land in upperdir")
	}
	// The process' working directory is untouched by the mount.
	if wd, _ := os.Getwd(); wd == s.Root() {
		t.Fatal("MountOverlay changed the process' working directory")
	}
	if err := unix.Unmount(merged, 0); err != nil {
		t.Fatal(err)
	}

	// Read-only overlay of the lowers alone.
	if err := MountOverlay(s.Root(), links, "", "", merged); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(merged, "f119")); err != nil || string(b) != "119" {
		t.Fatalf("read-only mount: %q %v", b, err)
	}
	unix.Unmount(merged, 0)
}

// Aliases survive a restart, are recreated when lost (a crash between a
// layer's rename and its alias) and are removed with their layer; stray
// ones (a crash between an alias' removal and its layer's) are cleared.
func TestLinksRepairedByLoad(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	s, _ := New(root)
	c1 := commit(t, s, layerTar(t, "a", "A"), "")
	l1, _ := s.Get(c1)
	if l1.Link == "" {
		t.Fatal("no link")
	}
	os.Remove(filepath.Join(root, "l", l1.Link))
	os.Symlink("../"+strings.Repeat("0", 64)+"/diff", filepath.Join(root, "l", "STRAY"))
	s2, _ := New(root)
	if _, err := s2.Load([]digest.Digest{c1}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "l", l1.Link, "a")); err != nil || string(b) != "A" {
		t.Fatalf("link not repaired: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "l", "STRAY")); !os.IsNotExist(err) {
		t.Fatal("stray link kept")
	}
	s2.Release(c1)
	if ents, _ := os.ReadDir(filepath.Join(root, "l")); len(ents) != 0 {
		t.Fatalf("links left after release: %v", ents)
	}
}
