package containerfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func openDir(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.OpenFile(p, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Absolute symlinks and ".." stay in the root.
func TestOpenInRootStaysInRoot(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc", "hostname"), []byte("ctr"), 0o644)
	os.Symlink("/", filepath.Join(dir, "up"))
	os.Symlink("../../../../../../etc", filepath.Join(dir, "rel"))
	root := openDir(t, dir)
	for _, p := range []string{"/up/etc/hostname", "/rel/hostname", "/../../etc/hostname", "up/up/etc/hostname"} {
		f, err := OpenInRoot(root, p, unix.O_RDONLY, 0, "open")
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b := make([]byte, 16)
		n, _ := f.Read(b)
		f.Close()
		if string(b[:n]) != "ctr" {
			t.Fatalf("%s resolved to a file holding %q", p, b[:n])
		}
	}
}

// A /proc magic link is refused, whatever it names, and a symlink to one
// too; with O_PATH|O_NOFOLLOW the link itself can be opened.
func TestOpenInRootRefusesMagicLinks(t *testing.T) {
	root := openDir(t, "/")
	for _, p := range []string{"/proc/self/root/etc", "/proc/self/cwd", "/proc/thread-self/root"} {
		f, err := OpenInRoot(root, p, unix.O_PATH, 0, "open")
		if err == nil {
			f.Close()
			t.Fatalf("%s opened", p)
		}
		if !errors.Is(err, unix.ELOOP) || !IsMagicLinkRefusal(err) {
			t.Fatalf("%s: %v, want ELOOP", p, err)
		}
	}
	f, err := OpenInRoot(root, "/proc/self/root", unix.O_PATH|unix.O_NOFOLLOW, 0, "lstat")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Fatalf("the link itself: %v %o", err, st.Mode)
	}
}
