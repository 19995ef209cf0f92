package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// deepTree makes depth nested directories "d" below dir with relative
// mkdirat, as a container can: the path is far beyond PATH_MAX.
func deepTree(t *testing.T, dir string, depth int) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < depth; i++ {
		if err := unix.Mkdirat(fd, "d", 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, "d", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	unix.Close(fd)
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// fdCounter is a writer that samples the process's open descriptors.
type fdCounter struct {
	t   *testing.T
	n   int
	max int
}

func (c *fdCounter) Write(b []byte) (int, error) {
	if c.n++; c.n%64 == 0 {
		c.max = max(c.max, openFDs(c.t))
	}
	return len(b), nil
}

// A container chooses how deep its tree is; the walk holds a descriptor
// per level, so it must stop at a bound instead of taking the daemon's
// descriptors with it.
func TestTarDeepTreeBoundedFDs(t *testing.T) {
	src := t.TempDir()
	deepTree(t, src, maxDepth+1000)
	before := openFDs(t)
	c := &fdCounter{t: t}
	err := Tar(c, src, TarOptions{})
	if !errors.Is(err, unix.ENAMETOOLONG) {
		t.Fatalf("walk of a tree deeper than %d levels: %v, want ENAMETOOLONG", maxDepth, err)
	}
	if c.max > before+maxDepth+64 {
		t.Fatalf("walk held %d descriptors (%d before)", c.max, before)
	}
	if n := openFDs(t); n > before+8 {
		t.Fatalf("%d descriptors left open (%d before)", n, before)
	}
}

func TestRemoveAllAtDeepTree(t *testing.T) {
	src := t.TempDir()
	deepTree(t, src, maxDepth+1000)
	fd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	before := openFDs(t)
	if err := removeAllAt(fd, "d"); !errors.Is(err, unix.ENAMETOOLONG) {
		t.Fatalf("removal of a tree deeper than %d levels: %v, want ENAMETOOLONG", maxDepth, err)
	}
	if n := openFDs(t); n > before+8 {
		t.Fatalf("%d descriptors left open (%d before)", n, before)
	}
	// A tree within the bound goes.
	deepTree(t, filepath.Join(src), 0)
	if err := os.Mkdir(filepath.Join(src, "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	deepTree(t, filepath.Join(src, "e"), 100)
	if err := removeAllAt(fd, "e"); err != nil {
		t.Fatal(err)
	}
}

// A regular file swapped for a directory between the stat and the open
// (a running container can) is archived as the directory it became; the
// walk does not abort with EBADF on the O_PATH handle.
func TestTarFileSwappedForDir(t *testing.T) {
	src := t.TempDir()
	mustWrite(t, filepath.Join(src, "a"), "A")
	mustWrite(t, filepath.Join(src, "b"), "B")
	testHookAfterStat = func(rel string) {
		if rel == "a" {
			os.Remove(filepath.Join(src, "a"))
			os.Mkdir(filepath.Join(src, "a"), 0o755)
			os.WriteFile(filepath.Join(src, "a", "x"), []byte("X"), 0o644)
		}
	}
	defer func() { testHookAfterStat = nil }()
	var b bytes.Buffer
	if err := Tar(&b, src, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	got := readTar(t, b.Bytes())
	if e, ok := got["a/"]; !ok || e.typ != tar.TypeDir {
		t.Fatalf("a: %+v (%s)", e, names(got))
	}
	if e := got["b"]; e.body != "B" {
		t.Fatalf("b: %+v (%s)", e, names(got))
	}
}

// sparseTar is an archive declaring one sparse file of size bytes, all
// hole (PAX GNU sparse 0.1, which archive/tar reads but does not write):
// a few blocks of input.
func sparseTar(t *testing.T, size int64) []byte {
	t.Helper()
	var recs bytes.Buffer
	for _, kv := range [][2]string{
		{"GNU.sparse.major", "0"},
		{"GNU.sparse.minor", "1"},
		{"GNU.sparse.name", "big"},
		{"GNU.sparse.realsize", strconv.FormatInt(size, 10)},
		{"GNU.sparse.numblocks", "1"},
		{"GNU.sparse.map", strconv.FormatInt(size, 10) + ",0"},
	} {
		rec := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(rec) + 1
		for len(strconv.Itoa(n))+len(rec) != n {
			n++
		}
		recs.WriteString(strconv.Itoa(n) + rec)
	}
	block := func(typ byte, name string, size int) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(size), Format: tar.FormatUSTAR}); err != nil {
			t.Fatal(err)
		}
		h := b.Bytes()[:512]
		h[156] = typ
		copy(h[148:156], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:156], []byte(strconv.FormatInt(int64(sum), 8)+"\x00 "))
		for i := len(strconv.FormatInt(int64(sum), 8)) + 2; i < 8; i++ {
			h[148+i] = 0
		}
		return h
	}
	var out bytes.Buffer
	out.Write(block(tar.TypeXHeader, "PaxHeaders/big", recs.Len()))
	out.Write(recs.Bytes())
	out.Write(make([]byte, (512-recs.Len()%512)%512))
	out.Write(block(tar.TypeReg, "big", 0))
	out.Write(make([]byte, 1024))
	return out.Bytes()
}

// A layer declaring a petabyte sparse file must not keep a CPU busy once
// its context is cancelled.
func TestExtractSparseCancel(t *testing.T) {
	data := sparseTar(t, 1<<50)
	if h, err := tar.NewReader(bytes.NewReader(data)).Next(); err != nil || h.Size != 1<<50 {
		t.Fatalf("test archive: %v %+v", err, h)
	}
	root, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Extract(ctx, bytes.NewReader(data), root, ExtractOptions{}) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Extract after cancel: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Extract of a 1 PiB sparse file still running 3s after its context was cancelled")
	}
}
