package cri

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// cgroupValue reads a cgroup file inside the container: the v2 name, or
// the v1 one.
func cgroupValue(t *testing.T, rt runtimeapi.RuntimeServiceClient, id, v2, v1 string) string {
	t.Helper()
	return strings.TrimSpace(execSync(t, rt, id, "sh", "-c", "cat /sys/fs/cgroup/"+v2+" 2>/dev/null || cat /sys/fs/cgroup/"+v1))
}

// TestContainerResources: the limits reach the container's cgroup, and
// UpdateContainerResources changes them.
func TestContainerResources(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	cfg := containerConfig("limited", "sleep", "1000")
	cfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
		CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 512, MemoryLimitInBytes: 64 << 20, OomScoreAdj: 500,
	}, SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}}}
	id := pod.run(t, rt, cfg)
	if v2 := cgroupValue(t, rt, id, "cpu.max", "cpu/cpu.cfs_quota_us"); v2 != "50000 100000" && v2 != "50000" {
		t.Fatalf("cpu quota %q", v2)
	}
	if got := cgroupValue(t, rt, id, "memory.max", "memory/memory.limit_in_bytes"); got != "67108864" {
		t.Fatalf("memory limit %q", got)
	}
	if got := strings.TrimSpace(execSync(t, rt, id, "cat", "/proc/1/oom_score_adj")); got != "500" {
		t.Fatalf("oom_score_adj %q", got)
	}
	_, err := rt.UpdateContainerResources(ctxT(t), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{
		CpuPeriod: 100000, CpuQuota: 20000, MemoryLimitInBytes: 128 << 20,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := cgroupValue(t, rt, id, "memory.max", "memory/memory.limit_in_bytes"); got != "134217728" {
		t.Fatalf("updated memory limit %q", got)
	}
	if v2 := cgroupValue(t, rt, id, "cpu.max", "cpu/cpu.cfs_quota_us"); v2 != "20000 100000" && v2 != "20000" {
		t.Fatalf("updated cpu quota %q", v2)
	}
	r := containerStatus(t, rt, id).GetResources().GetLinux()
	if r.GetMemoryLimitInBytes() != 128<<20 || r.GetCpuQuota() != 20000 || r.GetCpuShares() != 512 || r.GetOomScoreAdj() != 500 {
		t.Fatalf("status resources %v", r)
	}
}

// sharedDir is a temporary directory that is a shared mount of its own,
// so mounts made under it propagate to rslave and rshared copies.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestContainerBindMounts: read-only and read-write binds, a missing
// host path made a directory, and propagation: a mount made on the host
// after the start shows in a HOST_TO_CONTAINER bind, not in a PRIVATE one.
func TestContainerBindMounts(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	shared := sharedDir(t)
	plain := t.TempDir()
	missing := filepath.Join(t.TempDir(), "made", "by", "start")
	if err := os.WriteFile(filepath.Join(plain, "hello"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory with a mount of its own under it, for read-only binds:
	// recursive or not.
	withSub := t.TempDir()
	if err := os.Mkdir(filepath.Join(withSub, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("berth-test", filepath.Join(withSub, "sub"), "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(withSub, "sub"), unix.MNT_DETACH) })
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(plain, link); err != nil {
		t.Fatal(err)
	}
	cfg := containerConfig("binds", "sleep", "1000")
	cfg.Mounts = []*runtimeapi.Mount{
		{HostPath: withSub, ContainerPath: "/nonrec", Readonly: true},
		{HostPath: withSub, ContainerPath: "/rro", Readonly: true, RecursiveReadOnly: true},
		{HostPath: link, ContainerPath: "/link"},
		{HostPath: plain, ContainerPath: "/ro", Readonly: true},
		{HostPath: plain, ContainerPath: "/rw"},
		{HostPath: missing, ContainerPath: "/missing"},
		{HostPath: shared, ContainerPath: "/slave", Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
		{HostPath: shared, ContainerPath: "/private", Propagation: runtimeapi.MountPropagation_PROPAGATION_PRIVATE},
	}
	id := pod.run(t, rt, cfg)
	if got := execSync(t, rt, id, "cat", "/ro/hello"); got != "hi" {
		t.Fatalf("/ro/hello %q", got)
	}
	resp, err := rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"touch", "/ro/x"}, Timeout: 10})
	if err != nil || resp.GetExitCode() == 0 {
		t.Fatalf("touch in a read-only bind: %v %v", resp, err)
	}
	execSync(t, rt, id, "touch", "/rw/x", "/missing/y", "/nonrec/sub/z")
	if got := execSync(t, rt, id, "cat", "/link/hello"); got != "hi" {
		t.Fatalf("through a symlinked host path: %q", got)
	}
	resp, err = rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"touch", "/rro/sub/z2"}, Timeout: 10})
	if err != nil || resp.GetExitCode() == 0 {
		t.Fatalf("touch under a recursive read-only bind: %v %v", resp, err)
	}
	if _, err := os.Stat(filepath.Join(plain, "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(missing, "y")); err != nil {
		t.Fatalf("the missing host path: %v", err)
	}

	sub := filepath.Join(shared, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("berth-test", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	mounts := execSync(t, rt, id, "cat", "/proc/self/mounts")
	if !strings.Contains(mounts, " /slave/sub tmpfs") {
		t.Fatalf("the host's new mount is not in the HOST_TO_CONTAINER bind:\n%s", mounts)
	}
	if strings.Contains(mounts, " /private/sub ") {
		t.Fatalf("the host's new mount reached the PRIVATE bind:\n%s", mounts)
	}
	var slave bool
	for _, m := range containerStatus(t, rt, id).GetMounts() {
		if m.GetContainerPath() == "/slave" {
			slave = m.GetPropagation() == runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
		}
		if m.GetContainerPath() == "/ro" && !m.GetReadonly() {
			t.Fatalf("status mount %v", m)
		}
	}
	if !slave {
		t.Fatalf("status mounts %v", containerStatus(t, rt, id).GetMounts())
	}
}
