package runtime_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/caps"
	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/runtime/bundletest"
)

func statusField(t *testing.T, status, field string) string {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in %q", field, status)
	return ""
}

func TestCapabilitiesDefault(t *testing.T) {
	r := run(t, sh(t, "grep Cap /proc/self/status"))
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	want := "00000000a80425fb" // what docker shows for a default container
	for _, f := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if got := statusField(t, r.stdout, f); got != want {
			t.Errorf("%s = %s, want %s", f, got, want)
		}
	}
	if got := statusField(t, r.stdout, "CapInh"); got != "0000000000000000" {
		t.Errorf("CapInh = %s, want empty", got)
	}
}

func TestCapabilitiesDroppedAndAmbientForNonRoot(t *testing.T) {
	b := sh(t, "grep Cap /proc/self/status; id -u")
	b.Spec.Process.User = specs.User{UID: 65534, GID: 65534}
	b.Spec.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding: []string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"}, Permitted: []string{"CAP_NET_BIND_SERVICE"},
		Effective: []string{"CAP_NET_BIND_SERVICE"}, Inheritable: []string{"CAP_NET_BIND_SERVICE"},
		Ambient: []string{"CAP_NET_BIND_SERVICE"},
	}
	r := run(t, b)
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if got := statusField(t, r.stdout, "CapBnd"); got != "0000000000000401" {
		t.Errorf("CapBnd = %s", got)
	}
	// A non-root user keeps across execve exactly the ambient set.
	if got := statusField(t, r.stdout, "CapEff"); got != "0000000000000400" {
		t.Errorf("CapEff = %s", got)
	}
	if !strings.HasSuffix(r.stdout, "65534\n") {
		t.Errorf("uid: %q", r.stdout)
	}
}

func TestReadonlyRootRefusesWrites(t *testing.T) {
	b := sh(t, "touch /x 2>&1; echo rc=$?; touch /tmp/y 2>&1; echo rc=$?; touch /dev/shm/z && echo shm-ok")
	b.Spec.Root.Readonly = true
	r := run(t, b)
	if !strings.Contains(r.stdout, "Read-only file system") || !strings.Contains(r.stdout, "shm-ok") {
		t.Fatalf("%+v", r)
	}
	if _, err := os.Stat(filepath.Join(b.Dir, "rootfs", "x")); err == nil {
		t.Fatal("write reached the rootfs")
	}
}

func TestMasksAndReadonlyPaths(t *testing.T) {
	r := run(t, sh(t, `wc -c < /proc/keys; ls /proc/acpi 2>/dev/null | wc -l; echo 1 > /proc/sys/kernel/domainname 2>&1 || echo ro-ok; grep ' /proc/sys ' /proc/self/mountinfo | grep -c ' ro,'`))
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 3 || lines[0] != "0" || lines[1] != "0" || !strings.Contains(r.stdout, "ro-ok") {
		t.Fatalf("%+v", r)
	}
}

func TestMountsAndDevices(t *testing.T) {
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := sh(t, `cat /data/f; touch /data/g 2>&1; grep ' /data ' /proc/self/mountinfo; ls /dev; stat -c %t:%T /dev/null; grep -E ' /dev/pts | /dev/mqueue | /dev/shm ' /proc/self/mountinfo; readlink /dev/ptmx; readlink /dev/fd`)
	b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: host, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}})
	r := run(t, b)
	for _, want := range []string{"hello", "Read-only file system", "ro,nosuid,nodev,noexec", "urandom", "1:3", "ptmxmode=666", "mqueue", "pts/ptmx", "/proc/self/fd"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in %s", want, r.stdout)
		}
	}
}

func TestSysctlRlimitOomScoreCwdUser(t *testing.T) {
	b := sh(t, `cat /proc/sys/net/ipv4/ip_forward; ulimit -n; cat /proc/self/oom_score_adj; pwd; id; umask`)
	b.Spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	b.Spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1234, Soft: 1000}}
	adj := 123
	b.Spec.Process.OOMScoreAdj = &adj
	b.Spec.Process.Cwd = "/work/dir"
	b.Spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5, 1001}}
	mask := uint32(0o077)
	b.Spec.Process.User.Umask = &mask
	// /work/dir does not exist in the image: the runtime creates it.
	r := run(t, b)
	want := "1\n1000\n123\n/work/dir\nuid=1000 gid=1000 groups=5(tty),1001\n0077\n"
	if r.stdout != want {
		t.Fatalf("got %q (stderr %q), want %q", r.stdout, r.stderr, want)
	}
}

func TestNoNewPrivileges(t *testing.T) {
	b := sh(t, "grep NoNewPrivs /proc/self/status")
	b.Spec.Process.NoNewPrivileges = true
	if r := run(t, b); !strings.Contains(r.stdout, "NoNewPrivs:\t1") {
		t.Fatalf("%+v", r)
	}
	b = sh(t, "grep NoNewPrivs /proc/self/status")
	if r := run(t, b); !strings.Contains(r.stdout, "NoNewPrivs:\t0") {
		t.Fatalf("%+v", r)
	}
}

func TestSeccompDeniesWithEPERM(t *testing.T) {
	for _, nnp := range []bool{true, false} {
		t.Run(fmt.Sprint("nnp=", nnp), func(t *testing.T) {
			b := sh(t, "mkdir /tmp/d 2>&1; echo rc=$?; grep Seccomp: /proc/self/status")
			b.Spec.Process.NoNewPrivileges = nnp
			b.Spec.Linux.Seccomp = &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}},
			}
			r := run(t, b)
			if !strings.Contains(r.stdout, "Operation not permitted") || !strings.Contains(r.stdout, "rc=1") || !strings.Contains(r.stdout, "Seccomp:\t2") {
				t.Fatalf("%+v", r)
			}
		})
	}
}

func TestSeccompDefaultProfile(t *testing.T) {
	b := sh(t, "unshare -n true 2>&1; echo rc=$?; grep Seccomp: /proc/self/status")
	p, err := profiles.GetDefaultProfile(b.Spec)
	if err != nil {
		t.Fatal(err)
	}
	b.Spec.Linux.Seccomp = p
	r := run(t, b)
	if !strings.Contains(r.stdout, "Operation not permitted") || !strings.Contains(r.stdout, "Seccomp:\t2") {
		t.Fatalf("%+v", r)
	}
}

// leakedDirFd opens a host directory without O_CLOEXEC, the way a
// careless library in the daemon could: the stage inherits it.
func leakedDirFd(t *testing.T, dir string) int {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return fd
}

func TestNoDescriptorLeaks(t *testing.T) {
	// An fd of ours without O_CLOEXEC must still not reach the container.
	leakedDirFd(t, "/")
	r := run(t, sh(t, "ls /proc/self/fd | tr '\n' ' '"))
	// ls itself opens one directory fd (3).
	if got := strings.TrimSpace(r.stdout); got != "0 1 2 3" {
		t.Fatalf("container sees fds %q", got)
	}
}

func TestUserNamespaceMappedRoot(t *testing.T) {
	b := sh(t, "id -u; cat /proc/self/uid_map; touch /tmp/owned; ls /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || ls /sys/fs/cgroup/memory.max")
	b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	b.Spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	b.Spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	// The mapped root must own its root filesystem to use it.
	if err := chownTree(filepath.Join(b.Dir, "rootfs"), 100000); err != nil {
		t.Fatal(err)
	}
	// The temporary directories above the bundle are 0700 root-owned; the
	// mapped root is nobody to them.
	for d := b.Dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, b)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "0\n") || !strings.Contains(r.stdout, "100000") || !strings.Contains(r.stdout, "/sys/fs/cgroup/memory") {
		t.Fatalf("%+v", r)
	}
	st, err := os.Stat(filepath.Join(b.Dir, "rootfs", "tmp", "owned"))
	if err != nil {
		t.Fatal(err)
	}
	// The file the container's root made belongs to the mapped host uid.
	if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 100000 {
		t.Fatalf("file made by the container's root has host uid %d", uid)
	}
}

func TestPidsLimitRefusesForks(t *testing.T) {
	b := sh(t, "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; echo done")
	limit := int64(4)
	b.Spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	r := run(t, b)
	if !strings.Contains(r.stdout+r.stderr, "can't fork") && !strings.Contains(r.stdout+r.stderr, "Resource temporarily unavailable") {
		t.Fatalf("%+v", r)
	}
}

func TestCPUQuotaVisibleAndPauseResume(t *testing.T) {
	rt := newRuntime(t)
	b := sh(t, "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max; while :; do sleep 0.05; done")
	quota, period := int64(25000), uint64(100000)
	b.Spec.Linux.Resources.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	c, in, stdout, _, _ := create(t, rt, b)
	in.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(stdout.String(), "25000") })
	if err := c.Pause(); err != nil {
		t.Fatal(err)
	}
	if s := c.Status(); s != "paused" {
		t.Fatalf("status %s after pause", s)
	}
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	if s := c.Status(); s != specs.StateRunning {
		t.Fatalf("status %s after resume", s)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestExecJoinsNamespaces(t *testing.T) {
	rt := newRuntime(t)
	c, in := startWaiting(t, rt, sh(t, "echo started; read x"))
	defer in.Close()
	p, outR := execPiped(t, c, "/tmp", "hostname; echo $$; ps -o pid,comm | grep -c sh; for ns in mnt pid net uts ipc; do readlink /proc/self/ns/$ns; done; grep Cap[BE] /proc/self/status")
	out, _ := io.ReadAll(outR)
	st, err := p.Wait()
	if err != nil || st.ExitCode() != 0 {
		t.Fatalf("exec: %v %v: %s", st, err, out)
	}
	lines := strings.Split(string(out), "\n")
	if lines[0] != "berth-test" || lines[1] == "1" {
		t.Fatalf("exec output %q", out)
	}
	for i, ns := range []string{"mnt", "pid", "net", "uts", "ipc"} {
		want, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", c.Pid(), ns))
		if lines[3+i] != want {
			t.Errorf("exec %s ns %q, container's %q", ns, lines[3+i], want)
		}
	}
	if !strings.Contains(string(out), "a80425fb") {
		t.Errorf("exec capabilities: %s", out)
	}
}

// The init stage must run from a sealed copy: a privileged process in the
// container that grabs the stage's binary through /proc and writes to it
// after the stage has exec'd (the CVE-2019-5736 attack) must fail, and the
// binary on the host must be unchanged.
func TestInitBinaryCannotBeOverwritten(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	before := hashFile(t, self)
	rt := newRuntime(t)
	b := sh(t, "sleep 30")
	// Every capability this test process has (a sandbox may lack some).
	all := ownCaps(t)
	b.Spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	c, _, _, _, _ := create(t, rt, b)
	// The container is created, not started: its pid 1 is still our init
	// stage. An exec'd privileged shell opens it, waits for the stage to
	// exec the user process, then tries to overwrite the file.
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	p, err := c.Exec(context.Background(), runtime.ExecOpts{
		Process: specs.Process{Args: []string{"sh", "-c", `readlink /proc/1/exe; exec 3</proc/1/exe || exit 9; echo opened; read go; readlink /proc/1/exe; echo pwned > /proc/self/fd/3 && echo WROTE; printf '\177ELF-pwned' 1<>/proc/self/fd/3 && echo WROTE2; echo end`},
			Env: []string{"PATH=/bin"}, Cwd: "/", Capabilities: b.Spec.Process.Capabilities},
		Stdin: inR, Stdout: outW, Stderr: outW,
	})
	inR.Close()
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var out string
	for !strings.Contains(out, "opened") {
		n, err := outR.Read(buf)
		if err != nil {
			t.Fatalf("exec shell: %v: %q", err, out)
		}
		out += string(buf[:n])
	}
	if !strings.Contains(out, "memfd:berthd-init") {
		t.Errorf("init stage runs from %q, not a memfd", out)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// Give the stage time to exec sleep before the shell writes.
	waitFor(t, func() bool {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", c.Pid()))
		return strings.HasSuffix(l, "busybox")
	})
	inW.Write([]byte("go\n"))
	inW.Close()
	rest, _ := io.ReadAll(outR)
	out += string(rest)
	_, _ = p.Wait()
	if strings.Contains(out, "WROTE") || !strings.Contains(out, "end") {
		t.Fatalf("overwrite attempt: %q", out)
	}
	if !strings.Contains(out, "Operation not permitted") {
		t.Errorf("expected EPERM from the sealed memfd, got %q", out)
	}
	if after := hashFile(t, self); after != before {
		t.Fatal("the host binary changed")
	}
}

func hashFile(t *testing.T, p string) string {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func chownTree(root string, id int) error {
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, id, id)
	})
}

func ownCaps(t *testing.T) []string {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	prm, err := caps.ParseHex(statusField(t, string(status), "CapPrm"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, n := range caps.Names() {
		if prm.Has(i) {
			names = append(names, n)
		}
	}
	return names
}

func TestSpecDevicesAndLabelsWithoutLSM(t *testing.T) {
	b := sh(t, "stat -c '%F %t:%T %a %u:%g' /dev/mynull; echo x > /dev/mynull && echo writable")
	mode := os.FileMode(0o620)
	uid, gid := uint32(12), uint32(34)
	b.Spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/mynull", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid, GID: &gid}}
	// This host has no SELinux: the label is skipped with a warning, the
	// container still runs.
	b.Spec.Process.SelinuxLabel = "system_u:system_r:container_t:s0"
	r := run(t, b)
	if r.code != 0 || r.stdout != "character special file 1:3 620 12:34\nwritable\n" {
		t.Fatalf("%+v", r)
	}
}

// An AppArmor profile on a host without AppArmor fails create, as in
// runc, rather than running the process unconfined.
func TestApparmorProfileWithoutApparmorFailsCreate(t *testing.T) {
	if b, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled"); strings.HasPrefix(string(b), "Y") {
		t.Skip("this host has AppArmor")
	}
	b := bundletest.New(t, "true")
	b.Spec.Process.ApparmorProfile = "docker-default"
	rt := newRuntime(t)
	_, err := rt.Create(context.Background(), runtime.CreateOpts{ID: nextID(t), Bundle: b.Dir, Spec: b.Spec})
	if err == nil || !strings.Contains(err.Error(), "apparmor: config provided but apparmor not supported") {
		t.Fatalf("create: %v", err)
	}
}

// "ro" on a recursive bind leaves submounts writable; "rro" (mount_setattr
// with AT_RECURSIVE) makes them read-only too.
func TestRecursiveReadonlyBind(t *testing.T) {
	host := t.TempDir()
	sub := filepath.Join(host, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(sub, syscall.MNT_DETACH) })
	b := sh(t, "touch /ro/sub/a 2>/dev/null && echo ro-sub-writable; touch /rro/sub/b 2>/dev/null || echo rro-sub-readonly; touch /rro/c 2>/dev/null || echo rro-top-readonly")
	b.Spec.Mounts = append(b.Spec.Mounts,
		specs.Mount{Destination: "/ro", Type: "bind", Source: host, Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/rro", Type: "bind", Source: host, Options: []string{"rbind", "rro"}},
	)
	r := run(t, b)
	if r.stdout != "ro-sub-writable\nrro-sub-readonly\nrro-top-readonly\n" {
		t.Fatalf("%+v", r)
	}
}

// A limit lower than the init stage's thread count must not kill the
// stage: it applies from Start on.
func TestPidsLimitOneStillRuns(t *testing.T) {
	b := sh(t, "echo alive; sleep 0 & wait")
	limit := int64(1)
	b.Spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	r := run(t, b)
	if !strings.HasPrefix(r.stdout, "alive") || !strings.Contains(r.stderr, "can't fork") {
		t.Fatalf("%+v", r)
	}
}

// CVE-2024-21626: a working directory reached through an inherited host
// descriptor (/proc/self/fd/N) would put the process outside its root.
// The stage must refuse to exec.
func TestCwdThroughLeakedFdRefused(t *testing.T) {
	fd := leakedDirFd(t, t.TempDir())
	b := sh(t, "echo escaped; pwd")
	b.Spec.Process.Cwd = fmt.Sprintf("/proc/self/fd/%d", fd)
	r := run(t, b)
	if strings.Contains(r.stdout, "escaped") || r.code == 0 {
		t.Fatalf("process ran with a host cwd: %+v", r)
	}
	t.Logf("stage refused: %s", strings.TrimSpace(r.stderr))
	if !strings.Contains(r.stderr, "outside the container") && !strings.Contains(r.stderr, "chdir") {
		t.Fatalf("unexpected failure: %+v", r)
	}
}

// The second CVE-2024-21626 path: a program run through an inherited host
// directory descriptor. The descriptor is gone by the time of execve.
func TestExecThroughLeakedFdRefused(t *testing.T) {
	fd := leakedDirFd(t, "/bin")
	b := bundletest.New(t, fmt.Sprintf("/proc/self/fd/%d/busybox", fd), "echo", "escaped")
	r := run(t, b)
	if strings.Contains(r.stdout, "escaped") || r.code == 0 {
		t.Fatalf("a host binary ran: %+v", r)
	}
}

// An exec'd process is in the container's cgroup and under its seccomp
// filter before it runs a single instruction of its own: the stage joins
// the cgroup while it works (awaitCgroup) and gets the compiled program
// instead of the profile.
func TestExecInCgroupUnderSeccomp(t *testing.T) {
	rt := newRuntime(t)
	b := sh(t, "echo started; read x")
	b.Spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}},
	}
	c, in := startWaiting(t, rt, b)
	defer in.Close()
	p, outR := execPiped(t, c, "/", "grep Seccomp: /proc/self/status; mkdir /tmp/x 2>&1; sleep 10")
	// Exec returns once the process runs the program: it is where it
	// will stay.
	got, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.Pid))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", c.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("exec cgroups:\n%s\ncontainer's:\n%s", got, want)
	}
	var buf syncBuf
	go io.Copy(&buf, outR)
	waitFor(t, func() bool { return strings.Contains(buf.String(), "mkdir") })
	_ = p.Kill()
	_, _ = p.Wait()
	out := buf.String()
	if !strings.Contains(out, "Seccomp:\t2") || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("exec not under the container's seccomp filter: %s", out)
	}
}
