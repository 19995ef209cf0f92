package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type tarEntry struct {
	typ        byte
	link, body string
}

func readTar(t *testing.T, b []byte) map[string]tarEntry {
	t.Helper()
	out := map[string]tarEntry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out[h.Name] = tarEntry{h.Typeflag, h.Linkname, string(body)}
	}
}

func names(m map[string]tarEntry) string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

func mustWrite(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The names docker cp's client expects: a directory under its own name
// (Rebase) with ./ dropped, a single entry renamed, links kept as links.
func TestTarNames(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "d", "sub"), 0o755)
	mustWrite(t, filepath.Join(src, "d", "a"), "A")
	os.Link(filepath.Join(src, "d", "a"), filepath.Join(src, "d", "sub", "hard"))
	os.Symlink("/etc/passwd", filepath.Join(src, "d", "abs"))
	unix.Mkfifo(filepath.Join(src, "d", "fifo"), 0o644)

	var b bytes.Buffer
	if err := Tar(&b, filepath.Join(src, "d"), TarOptions{Include: ".", IncludeSourceDir: true, Rebase: "d"}); err != nil {
		t.Fatal(err)
	}
	got := readTar(t, b.Bytes())
	if n := names(got); n != "d/ d/a d/abs d/fifo d/sub/ d/sub/hard" {
		t.Fatalf("names: %s", n)
	}
	if e := got["d/abs"]; e.typ != tar.TypeSymlink || e.link != "/etc/passwd" {
		t.Fatalf("symlink: %+v", e)
	}
	if e := got["d/sub/hard"]; e.typ != tar.TypeLink || e.link != "d/a" {
		t.Fatalf("hard link: %+v", e)
	}
	if e := got["d/fifo"]; e.typ != tar.TypeFifo {
		t.Fatalf("fifo: %+v", e)
	}

	b.Reset()
	if err := Tar(&b, filepath.Join(src, "d"), TarOptions{Include: "a", IncludeSourceDir: true, Rebase: "renamed"}); err != nil {
		t.Fatal(err)
	}
	if got := readTar(t, b.Bytes()); names(got) != "renamed" || got["renamed"].body != "A" {
		t.Fatalf("single file: %v", got)
	}
	// Without IncludeSourceDir (export, layer diffs): no entry for ".".
	b.Reset()
	if err := Tar(&b, filepath.Join(src, "d"), TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := names(readTar(t, b.Bytes())); n != "a abs fifo sub/ sub/hard" {
		t.Fatalf("export names: %s", n)
	}
}

// swapAfterStat has the walk's hook run swap once, when it has just
// stat'ed rel.
func swapAfterStat(t *testing.T, rel string, swap func()) {
	t.Helper()
	testHookAfterStat = func(r string) {
		if r == rel {
			swap()
		}
	}
	t.Cleanup(func() { testHookAfterStat = nil })
}

// A directory swapped for a symlink between its stat and its open is not
// followed: the walk does not read what the link names.
func TestTarDirSwappedForSymlink(t *testing.T) {
	src, outside := t.TempDir(), t.TempDir()
	mustWrite(t, filepath.Join(outside, "secret"), "HOST")
	os.Mkdir(filepath.Join(src, "d"), 0o755)
	swapAfterStat(t, "d", func() {
		os.Remove(filepath.Join(src, "d"))
		os.Symlink(outside, filepath.Join(src, "d"))
	})
	var b bytes.Buffer
	if err := Tar(&b, src, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "HOST") || strings.Contains(names(readTar(t, b.Bytes())), "secret") {
		t.Fatalf("walk followed the swapped link: %s", names(readTar(t, b.Bytes())))
	}
}

// A regular file swapped for a FIFO between its stat and its open is
// archived as a FIFO; the open does not wait for a writer.
func TestTarFileSwappedForFifo(t *testing.T) {
	src := t.TempDir()
	mustWrite(t, filepath.Join(src, "x"), "data")
	swapAfterStat(t, "x", func() {
		os.Remove(filepath.Join(src, "x"))
		if err := unix.Mkfifo(filepath.Join(src, "x"), 0o644); err != nil {
			t.Error(err)
		}
	})
	done := make(chan error, 1)
	var b bytes.Buffer
	go func() { done <- Tar(&b, src, TarOptions{}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		// Unblock the open so the test can end.
		if f, err := os.OpenFile(filepath.Join(src, "x"), os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatal("Tar blocked on a FIFO")
	}
	if e := readTar(t, b.Bytes())["x"]; e.typ != tar.TypeFifo {
		t.Fatalf("swapped entry archived as %+v", e)
	}
}

// A file that vanishes between the listing and the open is skipped.
func TestTarVanished(t *testing.T) {
	src := t.TempDir()
	mustWrite(t, filepath.Join(src, "x"), "data")
	mustWrite(t, filepath.Join(src, "y"), "data")
	swapAfterStat(t, "x", func() { os.Remove(filepath.Join(src, "x")) })
	var b bytes.Buffer
	if err := Tar(&b, src, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := names(readTar(t, b.Bytes())); n != "y" {
		t.Fatalf("names: %s", n)
	}
}

// Regular files are read through a private procfs's /proc/self/fd, not
// reopened by name; the walk must find one (the daemon runs as root).
func TestTarHasPrivateProcfs(t *testing.T) {
	w := &tarWalk{}
	if w.selfFD() == nil {
		t.Fatal("no /proc/self/fd handle")
	}
	w.procFD.Close()
}
