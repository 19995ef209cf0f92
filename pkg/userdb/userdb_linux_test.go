package userdb

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/containerfs"
)

const testPasswd = "root:x:0:0:root:/root:/bin/sh\n# comment\n\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
const testGroup = "root:x:0:\nalice:x:1000:\nwheel:x:10:alice,bob\nstaff:x:50:alice\n"

// rootWith makes a container root whose /etc holds the given files.
func rootWith(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func readDB(t *testing.T, root string) *DB {
	t.Helper()
	db, err := ReadPath(root)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// within fails the test if f does not return in time: a lookup that
// blocks is the bug these tests are about.
func within(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("lookup blocked")
	}
}

func TestExecUser(t *testing.T) {
	db := readDB(t, rootWith(t, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup}))
	for _, tc := range []struct {
		spec      string
		uid, gid  int
		sgids     []int
		home, err string
	}{
		{spec: "", uid: 0, gid: 0, home: "/root"},
		{spec: "alice", uid: 1000, gid: 1000, sgids: []int{10, 50}, home: "/home/alice"},
		{spec: "1000", uid: 1000, gid: 1000, sgids: []int{10, 50}, home: "/home/alice"},
		{spec: "alice:wheel", uid: 1000, gid: 10, home: "/home/alice"},
		{spec: "alice:77", uid: 1000, gid: 77, home: "/home/alice"},
		{spec: "4242", uid: 4242, gid: 0},
		{spec: "4242:4243", uid: 4242, gid: 4243},
		{spec: "nobody", err: "unable to find user nobody: no matching entries in passwd file"},
		{spec: "alice:nogroup", err: "unable to find group nogroup: no matching entries in group file"},
	} {
		u, err := db.ExecUser(tc.spec)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: err %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if u.Uid != tc.uid || u.Gid != tc.gid || u.Home != tc.home || !slices.Equal(u.Sgids, append([]int{}, tc.sgids...)) {
			t.Errorf("%q: got %+v, want uid %d gid %d sgids %v home %q", tc.spec, u, tc.uid, tc.gid, tc.sgids, tc.home)
		}
	}
	g, err := db.AdditionalGroups([]string{"wheel", "123"})
	if err != nil || !slices.Equal(g, []int{10, 123}) {
		t.Errorf("AdditionalGroups: %v %v", g, err)
	}
	if _, err := db.AdditionalGroups([]string{"nogroup"}); err == nil {
		t.Error("AdditionalGroups of an unknown name succeeded")
	}
}

// Without the files, numeric IDs resolve and names do not, as in dockerd.
func TestMissingFiles(t *testing.T) {
	db := readDB(t, t.TempDir())
	if u, err := db.ExecUser("123:456"); err != nil || u.Uid != 123 || u.Gid != 456 {
		t.Errorf("numeric: %+v %v", u, err)
	}
	if u, err := db.ExecUser(""); err != nil || u.Uid != 0 {
		t.Errorf("default: %+v %v", u, err)
	}
	if _, err := db.ExecUser("alice"); err == nil || !strings.Contains(err.Error(), "no matching entries in passwd file") {
		t.Errorf("name: %v", err)
	}
}

func TestFIFODoesNotBlock(t *testing.T) {
	root := rootWith(t, nil)
	if err := unix.Mkfifo(filepath.Join(root, "etc/passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, func() {
		_, err := ReadFile(mustRoot(t, root), "/etc/passwd")
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("FIFO: %v, want ErrNotRegular", err)
		}
		// dockerd's message for a passwd it cannot use.
		_, err = readDB(t, root).ExecUser("alice")
		if err == nil || err.Error() != "unable to find user alice: no matching entries in passwd file" {
			t.Errorf("ExecUser over a FIFO: %v", err)
		}
		if u, err := readDB(t, root).ExecUser(""); err != nil || u.Uid != 0 {
			t.Errorf("default user over a FIFO: %+v %v", u, err)
		}
	})
}

func TestDeviceIsNotOpened(t *testing.T) {
	root := rootWith(t, nil)
	// /dev/null's numbers: opening it would be harmless, but the reader
	// must refuse before any open reaches a driver.
	if err := unix.Mknod(filepath.Join(root, "etc/group"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	if _, err := ReadFile(mustRoot(t, root), "/etc/group"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("device: %v, want ErrNotRegular", err)
	}
}

// An absolute symlink must not reach the host's file of that name.
func TestSymlinksStayInside(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("victim:x:4711:4711::/victim:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := rootWith(t, nil)
	if err := os.Symlink(victim, filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := readDB(t, root).ExecUser("victim"); err == nil {
		t.Fatal("resolved a user from a host file through an absolute symlink")
	}
	// A directory on the way that is a symlink to the host resolves in
	// the root: the host's /etc is not read.
	root2 := t.TempDir()
	if err := os.Symlink(filepath.Dir(victim), filepath.Join(root2, "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(victim, filepath.Join(filepath.Dir(victim), "passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := readDB(t, root2).ExecUser("victim"); err == nil {
		t.Fatal("resolved a user through a symlinked /etc pointing at the host")
	}
	// ".." does not climb out either.
	root3 := rootWith(t, nil)
	rel, _ := filepath.Rel(filepath.Join(root3, "etc"), filepath.Join(filepath.Dir(victim), "passwd"))
	if err := os.Symlink(rel, filepath.Join(root3, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := readDB(t, root3).ExecUser("victim"); err == nil {
		t.Fatal("resolved a user through a relative symlink climbing out")
	}
}

func TestTooLarge(t *testing.T) {
	root := rootWith(t, map[string]string{"etc/passwd": ""})
	if err := os.Truncate(filepath.Join(root, "etc/passwd"), MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(mustRoot(t, root), "/etc/passwd"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large file: %v, want ErrTooLarge", err)
	}
	// A lookup does not go on with a part of the file.
	if _, err := readDB(t, root).ExecUser("0"); err == nil || !strings.Contains(err.Error(), "file too large") {
		t.Errorf("lookup in a large file: %v", err)
	}
}

func TestDirectory(t *testing.T) {
	root := rootWith(t, nil)
	if err := os.Mkdir(filepath.Join(root, "etc/passwd"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(mustRoot(t, root), "/etc/passwd")
	if !errors.Is(err, ErrNotRegular) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("directory: %v", err)
	}
}

func mustRoot(t *testing.T, root string) *os.File {
	t.Helper()
	f, err := containerfs.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestLookupByName(t *testing.T) {
	db := readDB(t, rootWith(t, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup}))
	if u, err := db.LookupUser("alice"); err != nil || u.Uid != 1000 || u.Gid != 1000 {
		t.Errorf("alice: %+v %v", u, err)
	}
	if _, err := db.LookupUser("1000"); !errors.Is(err, user.ErrNoPasswdEntries) {
		t.Errorf("a number is not a name: %v", err)
	}
	if g, err := db.LookupGroup("wheel"); err != nil || g.Gid != 10 {
		t.Errorf("wheel: %+v %v", g, err)
	}
	if _, err := db.LookupGroup("nogroup"); !errors.Is(err, user.ErrNoGroupEntries) {
		t.Errorf("nogroup: %v", err)
	}
	// No files, or unusable ones: nothing found, no error about them.
	root := rootWith(t, nil)
	unix.Mkfifo(filepath.Join(root, "etc/group"), 0o644)
	empty := readDB(t, root)
	if _, err := empty.LookupUser("alice"); !errors.Is(err, user.ErrNoPasswdEntries) {
		t.Errorf("no passwd: %v", err)
	}
	if _, err := empty.LookupGroup("wheel"); !errors.Is(err, user.ErrNoGroupEntries) {
		t.Errorf("FIFO group: %v", err)
	}
}

// A passwd that is a symlink inside the root (Nix images: /etc/passwd ->
// /nix/store/...-passwd) is read where it points, as runc and dockerd do;
// an absolute link naming a host file resolves inside the root; a FIFO at
// the end of a link is still refused without blocking.
func TestSymlinkFollowedInsideRoot(t *testing.T) {
	root := rootWith(t, map[string]string{"etc/group": testGroup})
	store := filepath.Join(root, "nix/store")
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "abc-passwd"), []byte(testPasswd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nix/store/abc-passwd", filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	if u, err := readDB(t, root).ExecUser("alice"); err != nil || u.Uid != 1000 {
		t.Errorf("in-root symlink: %+v %v", u, err)
	}

	// The link names a file that exists on the host and, with other
	// content, at the same path inside the root: the root's is read.
	host := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(host, []byte("victim:x:4711:4711::/victim:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root2 := rootWith(t, nil)
	if err := os.MkdirAll(filepath.Join(root2, filepath.Dir(host)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root2, host), []byte(testPasswd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(host, filepath.Join(root2, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	db := readDB(t, root2)
	if _, err := db.ExecUser("victim"); err == nil {
		t.Error("read the host's file through an absolute symlink")
	}
	if u, err := db.ExecUser("alice"); err != nil || u.Uid != 1000 {
		t.Errorf("absolute symlink resolved in the root: %+v %v", u, err)
	}

	root3 := rootWith(t, nil)
	if err := unix.Mkfifo(filepath.Join(root3, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/fifo", filepath.Join(root3, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	within(t, func() {
		if _, err := ReadFile(mustRoot(t, root3), "/etc/passwd"); !errors.Is(err, ErrNotRegular) {
			t.Errorf("symlink to a FIFO: %v, want ErrNotRegular", err)
		}
	})
}
