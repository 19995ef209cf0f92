package topdir

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMark(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := Mark(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("Mark did not create %s: %v", dir, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.EXT4_SUPER_MAGIC {
		t.Logf("the test directory is not on ext2/3/4 (magic %#x): only its creation is checked", st.Type)
		return
	}
	marked, err := isMarked(dir)
	if err != nil || !marked {
		t.Fatalf("not marked: %v %v", marked, err)
	}
	// Again: nothing to do, no error.
	if err := Mark(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

// On a filesystem without inode attributes (tmpfs) Mark succeeds.
func TestMarkUnsupported(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	if err := Mark(filepath.Join(dir, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
}
