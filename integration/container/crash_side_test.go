package container

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// The containers' side of issue 19's crash campaign: a shim, a
// container's init or an exec process SIGKILLed from the host. The daemon
// must notice, record the exit, clean up what the process used, follow the
// restart policy and leave every other container as it was.

// bystander is a running container that a crash elsewhere must not touch.
type bystander struct {
	id  string
	pid int
}

func newBystander(t *testing.T, dd *harness.Daemon) bystander {
	t.Helper()
	id := runD(t, dd, "busybox", "sleep", "600")
	pid, _ := strconv.Atoi(format(t, dd, id, "{{.State.Pid}}"))
	return bystander{id: id, pid: pid}
}

// untouched fails unless b still runs its first process, answers exec and
// kept its address.
func (b bystander) untouched(t *testing.T, dd *harness.Daemon) {
	t.Helper()
	if got := format(t, dd, b.id, "{{.State.Status}} {{.State.Pid}} {{.RestartCount}}"); got != "running "+strconv.Itoa(b.pid)+" 0" {
		t.Fatalf("bystander: %s (pid was %d)", got, b.pid)
	}
	if got := strings.TrimSpace(dockerOn(t, dd, "exec", b.id, "echo", "fine")); got != "fine" {
		t.Fatalf("bystander exec: %q", got)
	}
}

// containerCgroups lists the cgroup directories of container id that
// still exist (v1: one per controller; v2: one).
func containerCgroups(id string) []string {
	var out []string
	for _, pat := range []string{"/sys/fs/cgroup/*/berth/" + id, "/sys/fs/cgroup/berth/" + id, "/sys/fs/cgroup/*/*/berth/" + id} {
		m, _ := filepath.Glob(pat)
		out = append(out, m...)
	}
	return out
}

// remains are what a running container holds on the host: its root
// mount and its veth on the daemon's bridge.
type remains struct {
	merged string
	veths  int
}

func remainsOf(t *testing.T, dd *harness.Daemon, id string) remains {
	t.Helper()
	r := remains{merged: format(t, dd, id, "{{.GraphDriver.Data.MergedDir}}"), veths: len(bridgePorts(t, dd.Bridge))}
	if r.merged == "" || !mounted(r.merged) {
		t.Fatalf("running container %.12s: root %q is not a mount", id, r.merged)
	}
	if len(containerCgroups(id)) == 0 {
		t.Fatal("no cgroup found for a running container: the clean-up check would prove nothing")
	}
	return r
}

// bridgePorts lists the links enslaved to bridge.
func bridgePorts(t *testing.T, bridge string) []string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show", "master", bridge).Output()
	if err != nil {
		t.Fatalf("ip link show master %s: %v", bridge, err)
	}
	return strings.FieldsFunc(strings.TrimSpace(string(out)), func(r rune) bool { return r == '\n' })
}

func mounted(path string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	return strings.Contains(string(b), " "+path+" ")
}

// assertShimDeathRecorded waits for container id, whose shim was killed,
// to be recorded exited with 137, then checks that it left nothing behind
// and that other ran on untouched.
func assertShimDeathRecorded(t *testing.T, dd *harness.Daemon, id string, pid int, was remains, other bystander) {
	t.Helper()
	waitState(t, dd, id, "exited", 10*time.Second)
	if got := format(t, dd, id, "{{.State.ExitCode}}"); got != "137" {
		t.Fatalf("exit code after the shim's death: %s", got)
	}
	assertCleanedUp(t, dd, id, pid, was)
	other.untouched(t, dd)
}

// assertCleanedUp fails while container id's process, cgroups, shim
// directory, root mount, veth or network endpoint are still there; was
// is what it held while it ran.
func assertCleanedUp(t *testing.T, dd *harness.Daemon, id string, pid int, was remains) {
	t.Helper()
	left := func() []string {
		var l []string
		if pidAlive(pid) {
			l = append(l, "process")
		}
		if cg := containerCgroups(id); len(cg) > 0 {
			l = append(l, "cgroups "+strings.Join(cg, " "))
		}
		if fileExists(filepath.Join(dd.ExecRoot, "s", id[:20])) {
			l = append(l, "shim directory")
		}
		if mounted(was.merged) {
			l = append(l, "root mount")
		}
		if n := len(bridgePorts(t, dd.Bridge)); n != was.veths-1 {
			l = append(l, fmt.Sprintf("%d veths on the bridge, want %d", n, was.veths-1))
		}
		return l
	}
	deadline := time.Now().Add(10 * time.Second)
	for l := left(); len(l) > 0; l = left() {
		if time.Now().After(deadline) {
			t.Fatalf("the dead container's remains are still there: %s", strings.Join(l, "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := format(t, dd, id, "{{range .NetworkSettings.Networks}}{{.EndpointID}}{{.IPAddress}}{{end}}"); got != "" {
		t.Fatalf("a dead container keeps its endpoint: %q", got)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestCrashSideShimKilled: a shim killed with SIGKILL takes its
// container with it; the daemon records exit 137 (as dockerd does for a
// task whose shim is gone), and leaves no process, cgroup, shim directory
// or endpoint behind.
func TestCrashSideShimKilled(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	other := newBystander(t, dd)
	id := runD(t, dd, "busybox", "sleep", "600")
	pid, _ := strconv.Atoi(format(t, dd, id, "{{.State.Pid}}"))
	was := remainsOf(t, dd, id)
	shim := shimOf(t, pid)
	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	assertShimDeathRecorded(t, dd, id, pid, was, other)
	// The container starts again, with a shim of its own.
	dockerOn(t, dd, "start", id)
	waitState(t, dd, id, "running", 10*time.Second)
}

// TestCrashSideShimKilledRestartPolicy: a container under --restart
// always whose shim was killed is started again by its policy.
func TestCrashSideShimKilledRestartPolicy(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	other := newBystander(t, dd)
	id := runD(t, dd, "--restart", "always", "busybox", "sleep", "600")
	pid, _ := strconv.Atoi(format(t, dd, id, "{{.State.Pid}}"))
	if err := syscall.Kill(shimOf(t, pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "the policy to restart the container", func() bool {
		return format(t, dd, id, "{{.State.Status}} {{.RestartCount}}") == "running 1"
	})
	if !waitGone(pid, 5*time.Second) {
		t.Fatal("the first init outlived its shim")
	}
	other.untouched(t, dd)
}

// TestCrashSideShimKilledWhileDaemonDown: a shim killed while the daemon
// is down (live-restore) leaves the container's init running without it;
// the restarted daemon ends it, records 137 and cleans up, and the
// container kept alive by live-restore beside it is untouched.
func TestCrashSideShimKilledWhileDaemonDown(t *testing.T) {
	dd := fresh(t, harness.Options{Config: `{"live-restore": true}`})
	setup(t, dd)
	other := newBystander(t, dd)
	id := runD(t, dd, "busybox", "sleep", "600")
	pid, _ := strconv.Atoi(format(t, dd, id, "{{.State.Pid}}"))
	was := remainsOf(t, dd, id)
	shim := shimOf(t, pid)
	dd.Kill()
	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitGone(shim, 5*time.Second) {
		t.Fatal("the shim outlived its SIGKILL")
	}
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	assertShimDeathRecorded(t, dd, id, pid, was, other)
}

// TestCrashSideInitKilled: the container's init (PID 1 inside) killed
// from the host is an exit 137 like dockerd's; the policy restarts it and
// the old process's resources are gone.
func TestCrashSideInitKilled(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	other := newBystander(t, dd)
	plain := runD(t, dd, "busybox", "sleep", "600")
	plainPid, _ := strconv.Atoi(format(t, dd, plain, "{{.State.Pid}}"))
	was := remainsOf(t, dd, plain)
	policy := runD(t, dd, "--restart", "on-failure:2", "busybox", "sleep", "600")
	policyPid, _ := strconv.Atoi(format(t, dd, policy, "{{.State.Pid}}"))
	for _, p := range []int{plainPid, policyPid} {
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, dd, plain, "exited", 10*time.Second)
	if got := format(t, dd, plain, "{{.State.ExitCode}} {{.State.OOMKilled}}"); got != "137 false" {
		t.Fatalf("killed init: %s", got)
	}
	// The policy's container is back on the bridge: one veth more.
	was.veths++
	assertCleanedUp(t, dd, plain, plainPid, was)
	harness.Eventually(t, 10*time.Second, "on-failure to restart the killed container", func() bool {
		return format(t, dd, policy, "{{.State.Status}} {{.RestartCount}}") == "running 1"
	})
	if now, _ := strconv.Atoi(format(t, dd, policy, "{{.State.Pid}}")); now == policyPid {
		t.Fatal("the restarted container reports its dead process")
	}
	other.untouched(t, dd)
}

// TestCrashSideExecKilled: an exec process killed from the host ends its
// exec with 137 and leaves its container running.
func TestCrashSideExecKilled(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	id := runD(t, dd, "busybox", "sleep", "600")
	pid, _ := strconv.Atoi(format(t, dd, id, "{{.State.Pid}}"))
	status, body := api(t, dd, "POST", "/containers/"+id+"/exec", `{"Cmd":["sleep","600"]}`)
	if status != 201 {
		t.Fatalf("exec create: %d %s", status, body)
	}
	var created struct{ Id string }
	jsonUnmarshal(t, body, &created)
	if status, body := api(t, dd, "POST", "/exec/"+created.Id+"/start", `{"Detach":true}`); status != 200 {
		t.Fatalf("exec start: %d %s", status, body)
	}
	var ex struct {
		Running  bool
		ExitCode *int
		Pid      int
	}
	harness.Eventually(t, 5*time.Second, "the exec's pid", func() bool {
		_, body := api(t, dd, "GET", "/exec/"+created.Id+"/json", "")
		jsonUnmarshal(t, body, &ex)
		return ex.Running && ex.Pid > 0
	})
	if err := syscall.Kill(ex.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 5*time.Second, "the exec to be recorded as ended", func() bool {
		_, body := api(t, dd, "GET", "/exec/"+created.Id+"/json", "")
		jsonUnmarshal(t, body, &ex)
		return !ex.Running
	})
	if ex.ExitCode == nil || *ex.ExitCode != 137 {
		t.Fatalf("killed exec's exit code: %v", ex.ExitCode)
	}
	if got := format(t, dd, id, "{{.State.Status}} {{.State.Pid}}"); got != "running "+strconv.Itoa(pid) {
		t.Fatalf("container after its exec was killed: %s (pid was %d)", got, pid)
	}
	if got := strings.TrimSpace(dockerOn(t, dd, "exec", id, "echo", "next")); got != "next" {
		t.Fatalf("the next exec: %q", got)
	}
}

// waitGone reports whether pid ends within timeout.
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !pidAlive(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestUnrecordedConnectLeftAtRestore: a daemon killed between a network
// connect's join and the container's save (hack/torture -points at
// network.connect.after-join) left the endpoint in the network with its
// address, veth and rules, which nothing freed: the network could not be
// removed ("active endpoints"). The restarted daemon now leaves such a
// network for the container, whose record does not know it. The crash is
// reproduced by putting back the container's record from before the
// connect.
func TestUnrecordedConnectLeftAtRestore(t *testing.T) {
	o := tortureNetOptions
	o.Config = `{"live-restore": true}`
	dd := fresh(t, o)
	setup(t, dd)
	net := uniqueName(t, "net")
	dockerOn(t, dd, "network", "create", net)
	id := runD(t, dd, "busybox", "sleep", "600")
	pid, _ := strconv.Atoi(format(t, dd, id, "{{.State.Pid}}"))
	record := filepath.Join(dd.DataRoot, "containers", id, "config.v2.json")
	before, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	dockerOn(t, dd, "network", "connect", net, id)
	dd.Kill()
	if err := os.WriteFile(record, before, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	if got := format(t, dd, id, "{{.State.Status}} {{.State.Pid}}"); got != "running "+strconv.Itoa(pid) {
		t.Fatalf("after the restart: %s (pid was %d)", got, pid)
	}
	if got := strings.TrimSpace(dockerOn(t, dd, "network", "inspect", "-f", "{{len .Containers}}", net)); got != "0" {
		t.Fatalf("the network keeps %s endpoints of an unrecorded connect", got)
	}
	if out, err := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-n", "ip", "-o", "link").Output(); err == nil && strings.Count(string(out), ": eth") > 1 {
		t.Fatalf("the container keeps the unrecorded connect's interface:\n%s", out)
	}
	dockerOn(t, dd, "network", "rm", net)
}
