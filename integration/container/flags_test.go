package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cgroup2 reports whether the host runs the unified hierarchy.
func cgroup2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// cgroupRead cats a cgroup file from inside a container run with flags:
// v1 is the path under the controller's mount, v2 the unified file.
func cgroupRead(t *testing.T, v1, v2 string, flags ...string) string {
	t.Helper()
	p := "/sys/fs/cgroup/" + v1
	if cgroup2() {
		p = "/sys/fs/cgroup/" + v2
	}
	args := append(append([]string{}, flags...), "busybox", "cat", p)
	return runOut(t, args...)
}

func TestResourceFlags(t *testing.T) {
	setup(t, d)
	cases := []struct {
		name   string
		flags  []string
		v1, v2 string
		want1  string
		want2  string
	}{
		{"memory", []string{"-m", "64m"}, "memory/memory.limit_in_bytes", "memory.max", "67108864", "67108864"},
		{"memory-reservation", []string{"-m", "64m", "--memory-reservation", "32m"}, "memory/memory.soft_limit_in_bytes", "memory.low", "33554432", "33554432"},
		{"cpus", []string{"--cpus", "0.5"}, "cpu/cpu.cfs_quota_us", "cpu.max", "50000", "50000 100000"},
		{"cpu-period", []string{"--cpus", "0.5"}, "cpu/cpu.cfs_period_us", "cpu.max", "100000", "50000 100000"},
		{"cpu-shares", []string{"--cpu-shares", "512"}, "cpu/cpu.shares", "cpu.weight", "512", "20"},
		{"cpuset", []string{"--cpuset-cpus", "1"}, "cpuset/cpuset.cpus", "cpuset.cpus", "1", "1"},
		{"pids-limit", []string{"--pids-limit", "42"}, "pids/pids.max", "pids.max", "42", "42"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := cgroupRead(t, c.v1, c.v2, c.flags...)
			want := c.want1
			if cgroup2() {
				want = c.want2
			}
			if got != want {
				t.Fatalf("%v: cgroup file = %q, want %q", c.flags, got, want)
			}
		})
	}
	t.Run("oom-kill-disable", func(t *testing.T) {
		if cgroup2() {
			t.Skip("cgroup v2 has no oom_control; dockerd ignores the flag there")
		}
		got := runOut(t, "-m", "64m", "--oom-kill-disable", "busybox", "cat", "/sys/fs/cgroup/memory/memory.oom_control")
		if !strings.Contains(got, "oom_kill_disable 1") {
			t.Fatalf("memory.oom_control:\n%s", got)
		}
		// Without a memory limit dockerd warns, and runs it.
		const warn = "WARNING: OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources."
		if _, stderr, code := dockerRes(t, d, runArgs(t, []string{"run", "--rm", "--oom-kill-disable", "busybox", "true"})...); code != 0 || !strings.Contains(stderr, warn) {
			t.Errorf("--oom-kill-disable without -m: %d %q", code, stderr)
		}
		if _, stderr, _ := dockerRes(t, d, runArgs(t, []string{"run", "--rm", "-m", "64m", "--oom-kill-disable", "busybox", "true"})...); strings.Contains(stderr, "WARNING") {
			t.Errorf("--oom-kill-disable with -m warned: %q", stderr)
		}
	})
}

func TestUserAndGroupAdd(t *testing.T) {
	setup(t, d)
	got := runOut(t, "-u", "1000:1000", "--group-add", "50", "--group-add", "60", "busybox", "sh", "-c", "id -u; id -g; id -G")
	lines := strings.Split(got, "\n")
	if len(lines) != 3 || lines[0] != "1000" || lines[1] != "1000" {
		t.Fatalf("id: %q", got)
	}
	groups := strings.Fields(lines[2])
	has := func(g string) bool {
		for _, x := range groups {
			if x == g {
				return true
			}
		}
		return false
	}
	if !has("50") || !has("60") {
		t.Fatalf("supplementary groups %q lack 50 and 60", lines[2])
	}
	if got := runOut(t, "-u", "0", "busybox", "id", "-u"); got != "0" {
		t.Fatalf("-u 0: %q", got)
	}
}

func TestHostnameDomainname(t *testing.T) {
	setup(t, d)
	got := runOut(t, "--hostname", "box1", "--domainname", "example.test", "busybox", "sh", "-c", "hostname; cat /proc/sys/kernel/domainname; grep box1 /etc/hostname")
	if got != "box1\nexample.test\nbox1" {
		t.Fatalf("got %q", got)
	}
	// Without --hostname the hostname is the short container ID.
	name := uniqueName(t, "h")
	out := docker(t, "run", "--name", name, "busybox", "hostname")
	id := format(t, d, name, "{{.Id}}")
	if strings.TrimSpace(out) != id[:12] {
		t.Fatalf("default hostname %q, want %q", out, id[:12])
	}
}

func TestUlimit(t *testing.T) {
	setup(t, d)
	if got := runOut(t, "--ulimit", "nofile=1234:2345", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"); got != "1234\n2345" {
		t.Fatalf("nofile: %q", got)
	}
	if got := runOut(t, "--ulimit", "nproc=77", "busybox", "sh", "-c", "ulimit -u"); got != "77" {
		t.Fatalf("nproc: %q", got)
	}
}

func TestSysctl(t *testing.T) {
	setup(t, d)
	if got := runOut(t, "--sysctl", "net.ipv4.ip_forward=1", "busybox", "cat", "/proc/sys/net/ipv4/ip_forward"); got != "1" {
		t.Fatalf("ip_forward %q", got)
	}
	if got := runOut(t, "--sysctl", "kernel.msgmax=12345", "busybox", "cat", "/proc/sys/kernel/msgmax"); got != "12345" {
		t.Fatalf("msgmax %q", got)
	}
	// A sysctl of the host's namespace is refused, as dockerd does.
	_, errOut, code := dockerRes(t, d, "run", "--rm", "--sysctl", "kernel.hostname_not=1", "busybox", "true")
	if code != 125 || !strings.Contains(errOut, "not allowed") {
		t.Fatalf("non-namespaced sysctl: exit %d, %q", code, errOut)
	}
}

func TestShmSize(t *testing.T) {
	setup(t, d)
	got := runOut(t, "--shm-size", "32m", "busybox", "df", "-k", "/dev/shm")
	f := strings.Fields(strings.Split(got, "\n")[1])
	if f[1] != "32768" {
		t.Fatalf("df /dev/shm: %q", got)
	}
	// The default is 64 MiB.
	got = runOut(t, "busybox", "df", "-k", "/dev/shm")
	if f := strings.Fields(strings.Split(got, "\n")[1]); f[1] != "65536" {
		t.Fatalf("default /dev/shm: %q", got)
	}
}

func TestTmpfs(t *testing.T) {
	setup(t, d)
	got := runOut(t, "--tmpfs", "/scratch:size=10m,mode=1770", "busybox", "sh", "-c", "grep ' /scratch ' /proc/mounts; stat -c %a /scratch; echo hi > /scratch/f && cat /scratch/f")
	if !strings.Contains(got, "tmpfs /scratch tmpfs") || !strings.Contains(got, "size=10240k") || !strings.Contains(got, "\n1770\n") || !strings.HasSuffix(got, "hi") {
		t.Fatalf("got:\n%s", got)
	}
}

func TestReadOnly(t *testing.T) {
	setup(t, d)
	_, errOut, code := dockerRes(t, d, "run", "--rm", "--read-only", "busybox", "touch", "/x")
	if code != 1 || !strings.Contains(errOut, "Read-only file system") {
		t.Fatalf("touch on read-only rootfs: exit %d %q", code, errOut)
	}
	// /dev, /dev/shm, /proc and /sys stay as dockerd sets them; a --tmpfs
	// is writable.
	if got := runOut(t, "--read-only", "--tmpfs", "/run", "busybox", "sh", "-c", "touch /run/x /dev/shm/x && echo ok"); got != "ok" {
		t.Fatalf("writable tmpfs under read-only rootfs: %q", got)
	}
}

// capMask is the hex mask of the given capability numbers.
func capMask(bits ...int) string {
	var m uint64
	for _, b := range bits {
		m |= 1 << b
	}
	return fmt.Sprintf("%016x", m)
}

func capLine(t *testing.T, status, key string) string {
	t.Helper()
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, key+":") {
			return strings.TrimSpace(strings.TrimPrefix(l, key+":"))
		}
	}
	t.Fatalf("no %s in:\n%s", key, status)
	return ""
}

func TestCapabilities(t *testing.T) {
	setup(t, d)
	// dockerd's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID
	// SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE
	// SETFCAP.
	defaults := []int{0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31}
	st := runOut(t, "busybox", "cat", "/proc/self/status")
	if got, want := capLine(t, st, "CapEff"), capMask(defaults...); got != want {
		t.Errorf("default CapEff %s, want %s", got, want)
	}
	if got, want := capLine(t, st, "CapBnd"), capMask(defaults...); got != want {
		t.Errorf("default CapBnd %s, want %s", got, want)
	}

	st = runOut(t, "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "busybox", "cat", "/proc/self/status")
	withAdd := append([]int{12}, defaults[1:]...)
	if got, want := capLine(t, st, "CapEff"), capMask(withAdd...); got != want {
		t.Errorf("--cap-add NET_ADMIN --cap-drop CHOWN: CapEff %s, want %s", got, want)
	}
	if got, want := capLine(t, st, "CapBnd"), capMask(withAdd...); got != want {
		t.Errorf("--cap-add NET_ADMIN --cap-drop CHOWN: CapBnd %s, want %s", got, want)
	}

	st = runOut(t, "--cap-drop", "ALL", "--cap-add", "KILL", "busybox", "cat", "/proc/self/status")
	if got, want := capLine(t, st, "CapEff"), capMask(5); got != want {
		t.Errorf("--cap-drop ALL --cap-add KILL: CapEff %s, want %s", got, want)
	}
	// A user other than root has no effective capabilities but keeps the
	// bounding set.
	st = runOut(t, "-u", "1000", "busybox", "cat", "/proc/self/status")
	if got := capLine(t, st, "CapEff"); got != capMask() {
		t.Errorf("-u 1000: CapEff %s, want 0", got)
	}
}

func TestPrivileged(t *testing.T) {
	setup(t, d)
	// "All capabilities" is every one the daemon holds: a host whose
	// bounding set lacks one (this sandbox lacks CAP_SYS_RESOURCE) still
	// runs --privileged containers, where dockerd 20.10 fails to apply caps.
	st, _ := os.ReadFile("/proc/self/status")
	all := capLine(t, string(st), "CapBnd")
	out, errOut, code := dockerRes(t, d, "run", "--rm", "--privileged", "busybox", "sh", "-c", "cat /proc/self/status; ls /dev")
	if code != 0 {
		t.Fatalf("--privileged: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if got := capLine(t, out, "CapEff"); got != all {
		t.Errorf("--privileged CapEff %s, want %s", got, all)
	}
	if got := capLine(t, out, "CapBnd"); got != all {
		t.Errorf("--privileged CapBnd %s, want %s", got, all)
	}
	if got := capLine(t, out, "Seccomp"); got != "0" {
		t.Errorf("--privileged Seccomp %s, want 0", got)
	}
	// The host's devices are there.
	if !strings.Contains(out, "loop") && !strings.Contains(out, "mem") {
		t.Errorf("--privileged /dev lacks host devices:\n%s", out)
	}
}

func TestSecurityOpt(t *testing.T) {
	setup(t, d)
	st := runOut(t, "busybox", "cat", "/proc/self/status")
	if capLine(t, st, "NoNewPrivs") != "0" || capLine(t, st, "Seccomp") != "2" {
		t.Fatalf("defaults: NoNewPrivs %s Seccomp %s, want 0 and 2", capLine(t, st, "NoNewPrivs"), capLine(t, st, "Seccomp"))
	}
	// docker exec runs under the container's filter too (the shim keeps
	// the compiled program, not the profile).
	id := runD(t, d, "busybox", "sleep", "60")
	ex := docker(t, "exec", id, "cat", "/proc/self/status")
	if capLine(t, ex, "Seccomp") != "2" {
		t.Errorf("exec: Seccomp %s, want 2", capLine(t, ex, "Seccomp"))
	}
	if _, stderr, code := dockerRes(t, d, "exec", id, "unshare", "-n", "true"); code == 0 || !strings.Contains(stderr, "Operation not permitted") {
		t.Errorf("exec: unshare not refused by the default profile: %d %s", code, stderr)
	}
	st = runOut(t, "--security-opt", "no-new-privileges", "busybox", "cat", "/proc/self/status")
	if got := capLine(t, st, "NoNewPrivs"); got != "1" {
		t.Errorf("no-new-privileges: NoNewPrivs %s", got)
	}
	st = runOut(t, "--security-opt", "no-new-privileges=true", "busybox", "cat", "/proc/self/status")
	if got := capLine(t, st, "NoNewPrivs"); got != "1" {
		t.Errorf("no-new-privileges=true: NoNewPrivs %s", got)
	}
	st = runOut(t, "--security-opt", "seccomp=unconfined", "busybox", "cat", "/proc/self/status")
	if got := capLine(t, st, "Seccomp"); got != "0" {
		t.Errorf("seccomp=unconfined: Seccomp %s", got)
	}
	// dockerd's default profile refuses unshare without CAP_SYS_ADMIN;
	// unconfined with the capability allows it.
	_, _, code := dockerRes(t, d, "run", "--rm", "busybox", "unshare", "-U", "true")
	if code == 0 {
		t.Errorf("unshare -U allowed under the default seccomp profile")
	}
	if got := runOut(t, "--security-opt", "seccomp=unconfined", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", "unshare -U true && echo ok"); got != "ok" {
		t.Errorf("unshare -U under seccomp=unconfined: %q", got)
	}
}

func TestDevice(t *testing.T) {
	setup(t, d)
	got := runOut(t, "--device", "/dev/null:/dev/mynull", "busybox", "sh", "-c", "ls -l /dev/mynull; echo x > /dev/mynull && echo wrote")
	if !strings.HasPrefix(got, "c") || !strings.Contains(got, "1,   3") || !strings.HasSuffix(got, "wrote") {
		t.Fatalf("got %q", got)
	}
	// With permissions: the node is there and readable (dockerd 20.10 on
	// cgroup v1 does not refuse a write open of an r-only device either).
	if got := runOut(t, "--device", "/dev/zero:/dev/z:r", "busybox", "sh", "-c", "head -c 3 /dev/z | od -An -tx1"); got != "00 00 00" {
		t.Fatalf("read of --device :r: %q", got)
	}
	// Without --device the node does not exist.
	_, _, code := dockerRes(t, d, "run", "--rm", "busybox", "ls", "/dev/mynull")
	if code == 0 {
		t.Fatal("/dev/mynull exists without --device")
	}
}

func TestInit(t *testing.T) {
	setup(t, d)
	got := runOut(t, "--init", "busybox", "sh", "-c", "echo $$; cat /proc/1/comm")
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] == "1" || (lines[1] != "docker-init" && lines[1] != "tini") {
		t.Fatalf("--init: %q (want the shell not PID 1 and PID 1 an init)", got)
	}
	if got := runOut(t, "busybox", "sh", "-c", "echo $$"); got != "1" {
		t.Fatalf("without --init the command is PID 1: %q", got)
	}
}

func nsLink(t *testing.T, pid int, ns string) string {
	t.Helper()
	l, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns", ns))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNamespaceModes(t *testing.T) {
	setup(t, d)
	self := os.Getpid()
	if got := runOut(t, "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc"); got != nsLink(t, self, "ipc") {
		t.Errorf("--ipc host: %s, host %s", got, nsLink(t, self, "ipc"))
	}
	if got := runOut(t, "--uts", "host", "busybox", "readlink", "/proc/self/ns/uts"); got != nsLink(t, self, "uts") {
		t.Errorf("--uts host: %s, host %s", got, nsLink(t, self, "uts"))
	}
	hn, _ := os.Hostname()
	if got := runOut(t, "--uts", "host", "busybox", "hostname"); got != hn {
		t.Errorf("--uts host hostname %q, want %q", got, hn)
	}
	if got := runOut(t, "--pid", "host", "busybox", "readlink", "/proc/self/ns/pid"); got != nsLink(t, self, "pid") {
		t.Errorf("--pid host: %s", got)
	}
	if got := runOut(t, "--pid", "host", "busybox", "cat", fmt.Sprintf("/proc/%d/comm", d.Pid())); got != "berthd" {
		t.Errorf("--pid host cannot see the daemon: %q", got)
	}
	// Private by default.
	if got := runOut(t, "busybox", "readlink", "/proc/self/ns/ipc"); got == nsLink(t, self, "ipc") {
		t.Errorf("default ipc namespace is the host's")
	}

	// container:<name> joins the other container's namespaces.
	name := uniqueName(t, "target")
	id := runD(t, d, "--name", name, "--ipc", "shareable", "busybox", "sleep", "600")
	pid, _ := strconv.Atoi(format(t, d, id, "{{.State.Pid}}"))
	if got := runOut(t, "--ipc", "container:"+name, "busybox", "readlink", "/proc/self/ns/ipc"); got != nsLink(t, pid, "ipc") {
		t.Errorf("--ipc container: %s, target %s", got, nsLink(t, pid, "ipc"))
	}
	got := runOut(t, "--pid", "container:"+name, "busybox", "sh", "-c", "readlink /proc/self/ns/pid; cat /proc/1/cmdline | tr '\\0' ' '")
	if !strings.HasPrefix(got, nsLink(t, pid, "pid")) || !strings.Contains(got, "sleep 600") {
		t.Errorf("--pid container: %q", got)
	}
}

func TestEnvAndEnvFile(t *testing.T) {
	setup(t, d)
	f := filepath.Join(t.TempDir(), "env")
	os.WriteFile(f, []byte("# comment\nFROM_FILE=file value\nOVERRIDE=file\n\n"), 0o644)
	os.Setenv("BERTH_PASSTHRU", "from host")
	defer os.Unsetenv("BERTH_PASSTHRU")
	got := runOut(t, "--env-file", f, "-e", "OVERRIDE=flag", "-e", "A=1", "-e", "BERTH_PASSTHRU", "busybox", "env")
	for _, want := range []string{"FROM_FILE=file value", "OVERRIDE=flag", "A=1", "BERTH_PASSTHRU=from host", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"} {
		if !strings.Contains(got+"\n", want+"\n") {
			t.Errorf("env lacks %q:\n%s", want, got)
		}
	}
	if got := runOut(t, "-u", "1000", "busybox", "sh", "-c", "echo $HOME"); got != "/home/user" && got != "/" {
		t.Errorf("HOME for user 1000: %q", got)
	}
}

func TestEntrypointAndWorkdir(t *testing.T) {
	setup(t, d)
	if got := runOut(t, "--entrypoint", "echo", "busybox", "a", "b"); got != "a b" {
		t.Errorf("--entrypoint echo: %q", got)
	}
	if got := runOut(t, "--entrypoint", "/bin/sh", "busybox", "-c", "echo $0"); got != "/bin/sh" {
		t.Errorf("--entrypoint /bin/sh: %q", got)
	}
	if got := runOut(t, "-w", "/new/dir", "busybox", "pwd"); got != "/new/dir" {
		t.Errorf("-w creates and enters the directory: %q", got)
	}
	name := uniqueName(t, "ep")
	docker(t, "create", "--name", name, "--entrypoint", "echo", "-w", "/tmp", "busybox", "x")
	if got := format(t, d, name, "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.WorkingDir}}"); got != `["echo"] ["x"] /tmp` {
		t.Errorf("config: %s", got)
	}
}

func TestLabels(t *testing.T) {
	setup(t, d)
	f := filepath.Join(t.TempDir(), "labels")
	os.WriteFile(f, []byte("from.file=yes\n"), 0o644)
	name := uniqueName(t, "l")
	docker(t, "create", "--name", name, "-l", "a=1", "--label", "b=two words", "--label-file", f, "busybox", "true")
	if got := format(t, d, name, `{{index .Config.Labels "a"}}|{{index .Config.Labels "b"}}|{{index .Config.Labels "from.file"}}`); got != "1|two words|yes" {
		t.Fatalf("labels: %q", got)
	}
}

func TestStopSignalAndTimeout(t *testing.T) {
	setup(t, d)
	// The container traps SIGUSR1 and reports it; docker stop sends the
	// configured signal first.
	name := uniqueName(t, "sig")
	id := runD(t, d, "--name", name, "--stop-signal", "SIGUSR1", "busybox", "sh", "-c", "trap 'echo got usr1; exit 0' USR1; while true; do sleep 0.1; done")
	if got := format(t, d, id, "{{.Config.StopSignal}}"); got != "SIGUSR1" {
		t.Fatalf("Config.StopSignal %q", got)
	}
	time.Sleep(300 * time.Millisecond)
	docker(t, "stop", name)
	if got := format(t, d, id, "{{.State.ExitCode}}"); got != "0" {
		t.Fatalf("exit code %s after stop with trapped USR1", got)
	}
	if logs := docker(t, "logs", name); !strings.Contains(logs, "got usr1") {
		t.Fatalf("logs %q", logs)
	}

	// --stop-timeout: a container ignoring SIGTERM is killed after it.
	name2 := uniqueName(t, "to")
	id2 := runD(t, d, "--name", name2, "--stop-timeout", "1", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done")
	if got := format(t, d, id2, "{{.Config.StopTimeout}}"); got != "1" {
		t.Fatalf("Config.StopTimeout %q", got)
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	docker(t, "stop", name2)
	el := time.Since(start)
	if el < 900*time.Millisecond || el > 8*time.Second {
		t.Fatalf("stop took %s with --stop-timeout 1", el)
	}
	if got := format(t, d, id2, "{{.State.ExitCode}}"); got != "137" {
		t.Fatalf("exit code %s, want 137 (SIGKILL)", got)
	}
}
