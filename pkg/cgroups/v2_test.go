package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// The compiled device filter, attached to a cgroup2 directory, decides
// what the processes in it may open, whatever v1 says.
func TestV2DeviceFilter(t *testing.T) {
	root := privateCgroup2(t)
	m := &v2Manager{root: root, dir: filepath.Join(root, "berth-test-dev")}
	t.Cleanup(func() { _ = m.Destroy() })
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	i := func(n int64) *int64 { return &n }
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i(1), Minor: i(3), Access: "rwm"}, // /dev/null
		{Allow: true, Type: "c", Major: i(1), Minor: i(5), Access: "r"},   // /dev/zero, read only
	}
	if err := m.Set(&specs.LinuxResources{Devices: rules}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", `read x
echo hi > /dev/null && echo null-write-ok
head -c 1 /dev/zero > /dev/null && echo zero-read-ok
echo hi > /dev/zero || echo zero-write-denied
head -c 1 /dev/urandom > /dev/null || echo urandom-denied`)
	stdin, _ := cmd.StdinPipe()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	stdin.Write([]byte("go\n"))
	stdin.Close()
	_ = cmd.Wait()
	for _, want := range []string{"null-write-ok", "zero-read-ok", "zero-write-denied", "urandom-denied"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %s in:\n%s", want, out.String())
		}
	}
}

// A process cloned with CLONE_INTO_CGROUP into the directory that
// OpenForClone opens starts in the cgroup: nothing has to move it.
func TestV2CloneIntoCgroup(t *testing.T) {
	root := privateCgroup2(t)
	m := &v2Manager{root: root, dir: filepath.Join(root, "berth-test-clone", "c1")}
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeTree(filepath.Join(root, "berth-test-clone")) })
	var target CloneTarget = m
	dir, err := target.OpenForClone()
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	if pids, err := m.Pids(); err != nil || len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Fatalf("pids in the cgroup %v %v, want [%d]", pids, err, cmd.Process.Pid)
	}
}
