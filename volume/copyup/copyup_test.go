package copyup

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestIntoVolume(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	rootfs := filepath.Join(base, "rootfs")
	src := filepath.Join(rootfs, "var", "data")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "a"), []byte("hello"), 0o640)
	os.Link(filepath.Join(src, "a"), filepath.Join(src, "sub", "hard"))
	os.Symlink("../a", filepath.Join(src, "sub", "link"))
	os.WriteFile(filepath.Join(src, "suid"), nil, 0o755)
	os.Chmod(filepath.Join(src, "suid"), os.ModeSetuid|0o755)
	os.Chmod(src, os.ModeSticky|0o777)
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(src, "a"), old, old)
	if os.Geteuid() == 0 {
		os.Lchown(filepath.Join(src, "a"), 1000, 1001)
		os.Lchown(src, 33, 33)
	}
	// A symlink pointing out of the rootfs is copied as a link, never
	// followed.
	os.Symlink("/etc/passwd", filepath.Join(src, "escape"))

	vol := filepath.Join(base, "vol")
	os.Mkdir(vol, 0o755)

	if copied, err := IntoVolume(ctx, rootfs, "/var/data", vol, true); err != nil || copied {
		t.Fatalf("nocopy copied: %v %v", copied, err)
	}
	copied, err := IntoVolume(ctx, rootfs, "/var/data/", vol, false)
	if err != nil || !copied {
		t.Fatalf("copy: %v %v", copied, err)
	}
	if b, _ := os.ReadFile(filepath.Join(vol, "a")); string(b) != "hello" {
		t.Fatalf("content %q", b)
	}
	fa, _ := os.Stat(filepath.Join(vol, "a"))
	fh, _ := os.Stat(filepath.Join(vol, "sub", "hard"))
	if !os.SameFile(fa, fh) {
		t.Error("hard link not kept")
	}
	if fa.Mode().Perm() != 0o640 || !fa.ModTime().Equal(old) {
		t.Errorf("mode %v mtime %v", fa.Mode(), fa.ModTime())
	}
	if l, _ := os.Readlink(filepath.Join(vol, "sub", "link")); l != "../a" {
		t.Errorf("symlink %q", l)
	}
	if l, _ := os.Readlink(filepath.Join(vol, "escape")); l != "/etc/passwd" {
		t.Errorf("escaping symlink %q", l)
	}
	if fi, _ := os.Stat(filepath.Join(vol, "suid")); fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("setuid lost: %v", fi.Mode())
	}
	if fi, _ := os.Stat(vol); fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("volume root mode %v, want the image directory's", fi.Mode())
	}
	if os.Geteuid() == 0 {
		st := fa.Sys().(*syscall.Stat_t)
		vr, _ := os.Stat(vol)
		rst := vr.Sys().(*syscall.Stat_t)
		if st.Uid != 1000 || st.Gid != 1001 || rst.Uid != 33 {
			t.Errorf("owners %d:%d root %d", st.Uid, st.Gid, rst.Uid)
		}
	}

	// A volume with content is never overwritten.
	os.WriteFile(filepath.Join(src, "new"), nil, 0o644)
	if copied, err := IntoVolume(ctx, rootfs, "/var/data", vol, false); err != nil || copied {
		t.Fatalf("second copy: %v %v", copied, err)
	}
	// Nothing at the path, or a file there: nothing to copy.
	empty := filepath.Join(base, "empty")
	os.Mkdir(empty, 0o755)
	for _, p := range []string{"/nope", "/var/data/a"} {
		if copied, err := IntoVolume(ctx, rootfs, p, empty, false); err != nil || copied {
			t.Fatalf("%s: %v %v", p, copied, err)
		}
	}
	// The mount path itself a symlink out of the rootfs: refused, never
	// followed to the host.
	os.Symlink("/etc", filepath.Join(rootfs, "evil"))
	if copied, err := IntoVolume(ctx, rootfs, "/evil", empty, false); err == nil && copied {
		t.Fatal("followed a symlink out of the rootfs")
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Fatal("copied host content")
	}
}
