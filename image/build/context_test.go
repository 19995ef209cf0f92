package build

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type entry struct {
	name, link string
	typ        byte
	body       string
	mode       int64
}

func tarOf(t *testing.T, ents ...entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, Size: int64(len(e.body)), ModTime: time.Unix(1600000000, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return &buf
}

func TestUntarKeepsModesAndTimes(t *testing.T) {
	dir := t.TempDir()
	err := untar(tarOf(t,
		entry{name: "d/", typ: tar.TypeDir, mode: 0o700},
		entry{name: "d/f", typ: tar.TypeReg, body: "x", mode: 0o4755},
		entry{name: "d/e/g", typ: tar.TypeReg, body: "y"},
		entry{name: "l", typ: tar.TypeSymlink, link: "d/f"},
	), dir)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{"d": os.ModeDir | 0o700, "d/f": os.ModeSetuid | 0o755, "d/e/g": 0o644} {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
		if p != "d/e/g" && !fi.ModTime().Equal(time.Unix(1600000000, 0)) {
			t.Errorf("%s: mtime %v", p, fi.ModTime())
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "l")); err != nil || string(b) != "x" {
		t.Errorf("symlink: %q %v", b, err)
	}
}

// An entry below a symlink that an earlier entry planted is refused, even
// where the name was a directory this extraction made before; a directory
// entry replaces the symlink.
func TestUntarRefusesPlantedSymlink(t *testing.T) {
	outside := t.TempDir()
	for name, ents := range map[string][]entry{
		"plain": {
			{name: "a", typ: tar.TypeSymlink, link: outside},
			{name: "a/x", typ: tar.TypeReg, body: "pwned"},
		},
		"replaced dir": {
			{name: "a/", typ: tar.TypeDir},
			{name: "a/y", typ: tar.TypeReg, body: "ok"},
			{name: "a", typ: tar.TypeSymlink, link: outside},
			{name: "a/x", typ: tar.TypeReg, body: "pwned"},
		},
		"dir over symlink": {
			{name: "a", typ: tar.TypeSymlink, link: outside},
			{name: "a/", typ: tar.TypeDir, mode: 0o777},
			{name: "a/x", typ: tar.TypeReg, body: "pwned"},
		},
	} {
		dir := t.TempDir()
		err := untar(tarOf(t, ents...), dir)
		if name == "dir over symlink" {
			if fi, lerr := os.Lstat(filepath.Join(dir, "a")); err != nil || lerr != nil || !fi.IsDir() {
				t.Errorf("%s: %v, a is %v", name, err, fi)
			}
		} else if err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
			t.Fatalf("%s: wrote outside the context", name)
		}
		if fi, _ := os.Stat(outside); fi.Mode().Perm() == 0o777 {
			t.Fatalf("%s: chmod through a symlink", name)
		}
	}
}

// A file may replace an earlier file or directory of the same name.
func TestUntarReplaces(t *testing.T) {
	dir := t.TempDir()
	err := untar(tarOf(t,
		entry{name: "f", typ: tar.TypeReg, body: "one"},
		entry{name: "f", typ: tar.TypeReg, body: "two"},
		entry{name: "d/x", typ: tar.TypeReg, body: "x"},
		entry{name: "d", typ: tar.TypeReg, body: "file now"},
	), dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "two" {
		t.Errorf("f = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "d")); string(b) != "file now" {
		t.Errorf("d = %q", b)
	}
}

// A .dockerignore that is a symlink resolves inside the context: a host
// file it names is never read.
func TestDockerignoreSymlinkStaysInContext(t *testing.T) {
	host := filepath.Join(t.TempDir(), "patterns")
	os.WriteFile(host, []byte("keep\n"), 0o644)
	dir := t.TempDir()
	c := &Context{Dir: dir}
	if err := untar(tarOf(t,
		entry{name: "keep", typ: tar.TypeReg, body: "x"},
		entry{name: ".dockerignore", typ: tar.TypeSymlink, link: host},
	), dir); err != nil {
		t.Fatal(err)
	}
	if err := c.applyDockerignore(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep")); err != nil {
		t.Fatal("the host file's patterns were applied")
	}
	os.Remove(filepath.Join(dir, ".dockerignore"))
	os.Symlink("/dev/zero", filepath.Join(dir, ".dockerignore"))
	os.MkdirAll(filepath.Join(dir, "dev"), 0o755)
	os.Symlink("/proc/self/fd/0", filepath.Join(dir, "dev/zero"))
	if err := c.applyDockerignore(); err != nil {
		t.Fatal(err)
	}
}
