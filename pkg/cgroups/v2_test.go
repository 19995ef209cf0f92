package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// On a v1 host the unified hierarchy can still be mounted: it carries no
// resource controllers there, but creation, joining, freezing, listing and
// removal are the same code as on a v2 host.
func TestV2CoreOnPrivateMount(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	if err := unix.Mount("cgroup2", root, "cgroup2", 0, ""); err != nil {
		if IsV2() {
			t.Fatalf("mount cgroup2: %v", err)
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot mount cgroup2 on this v1 host: %v", err)
		}
		t.Skipf("cannot mount cgroup2: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(root, unix.MNT_DETACH) })
	m := &v2Manager{root: root, dir: filepath.Join(root, "berth-test", "v2")}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = m.Destroy()
		_ = removeTree(filepath.Join(root, "berth-test"))
	})
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if pids, err := m.Pids(); err != nil || len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Fatalf("pids %v %v", pids, err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, _ := m.Frozen(); !f {
		t.Fatal("not frozen")
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stats(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.dir); !os.IsNotExist(err) {
		t.Fatalf("left behind: %v", err)
	}
	// Back in the v1 hierarchies the process was never moved out of.
	b, _ := os.ReadFile("/proc/self/cgroup")
	if !strings.Contains(string(b), "0::") {
		t.Logf("/proc/self/cgroup: %s", b)
	}
}
