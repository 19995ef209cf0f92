package netns

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("netns tests need root")
	}
	t.Skip("netns tests need root")
}

func nsIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func mounted(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 4 && fs[4] == path {
			return true
		}
	}
	return false
}

// A pinned namespace is a new one, the daemon's own is unchanged, and
// Remove leaves neither mount nor file.
func TestNewAndRemove(t *testing.T) {
	requireRoot(t)
	home := nsIno(t, "/proc/self/ns/net")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := New(p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = Remove(p) })
	}
	if ia, ib := nsIno(t, a), nsIno(t, b); ia == home || ib == home || ia == ib {
		t.Errorf("namespaces %d and %d, the daemon's %d: want two new ones", ia, ib, home)
	}
	// Every thread of this process is still in its namespace.
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if ino := nsIno(t, "/proc/self/task/"+task.Name()+"/ns/net"); ino != home {
			t.Errorf("thread %s is in namespace %d, not the daemon's %d", task.Name(), ino, home)
		}
	}
	// It is usable: a setns-able nsfs file.
	f, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		t.Errorf("pinned file is not an nsfs file: %v %x", err, fs.Type)
	}
	// Do runs in it, and only there.
	var inside uint64
	if err := Do(f, func() error { inside = nsIno(t, "/proc/thread-self/ns/net"); return nil }); err != nil {
		t.Fatal(err)
	}
	if inside != nsIno(t, a) {
		t.Errorf("Do ran in namespace %d, want %d", inside, nsIno(t, a))
	}
	if now := nsIno(t, "/proc/thread-self/ns/net"); now != home {
		t.Errorf("the caller's thread is in namespace %d after Do", now)
	}
	f.Close()
	if err := New(a); err == nil {
		t.Error("a second namespace pinned over the first")
	}
	if err := Remove(a); err != nil {
		t.Fatal(err)
	}
	if mounted(t, a) {
		t.Error("still mounted after Remove")
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Errorf("file remains after Remove: %v", err)
	}
	if err := Remove(a); err != nil {
		t.Errorf("removing a removed namespace: %v", err)
	}
}
