package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

func layerTar(t *testing.T, name, data string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
	tw.Write([]byte(data))
	tw.Close()
	return buf.Bytes()
}

func commit(t *testing.T, s *Store, data []byte, parent digest.Digest) digest.Digest {
	t.Helper()
	p, err := s.Unpack(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Commit(p, parent)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestShareReleaseLoad(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("needs root")
	}
	root := t.TempDir()
	s, _ := New(root)
	base, top := layerTar(t, "a", "A"), layerTar(t, "b", "B")
	c1 := commit(t, s, base, "")
	c2 := commit(t, s, top, c1)
	again := commit(t, s, base, "") // a second image with the same base
	if again != c1 {
		t.Fatal("same base gave a different chain")
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Fatalf("tmp not empty: %v", ents)
	}
	dirs, err := s.DiffDirs(c2)
	if err != nil || len(dirs) != 2 || dirs[0] != s.DiffDir(c2) {
		t.Fatalf("dirs %v %v", dirs, err)
	}
	var out bytes.Buffer
	if err := s.WriteTar(c2, &out); err != nil || !bytes.Equal(out.Bytes(), top) {
		t.Fatalf("WriteTar: %v", err)
	}
	if err := s.Hold("ctr1", c2); err != nil {
		t.Fatal(err)
	}

	// Restart: the image holding `again` is gone, the one holding c2 too;
	// only the container's hold keeps c2 and its parent. Leftover litter
	// in tmp/ is cleared.
	os.MkdirAll(filepath.Join(root, "tmp", "new-123", "diff"), 0o700)
	s2, _ := New(root)
	missing, err := s2.Load([]digest.Digest{c1, digest.FromString("gone")})
	if err != nil || len(missing) != 1 {
		t.Fatalf("missing %v %v", missing, err)
	}
	if !s2.Exists(c1) || !s2.Exists(c2) {
		t.Fatal("held layers removed")
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Fatal("tmp litter survived Load")
	}
	if removed, _ := s2.Unhold("ctr1"); len(removed) != 1 || removed[0].ChainID != c2 {
		t.Fatalf("unhold removed %v", removed)
	}
	if removed := s2.Release(c1); len(removed) != 1 || s2.Exists(c1) {
		t.Fatalf("release removed %v", removed)
	}
	if _, err := os.Stat(filepath.Join(root, c1.Encoded())); !os.IsNotExist(err) {
		t.Fatal("layer dir survived")
	}
}
