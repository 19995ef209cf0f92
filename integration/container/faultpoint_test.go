package container

import (
	"strconv"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/pkg/faultpoint"
)

// Tests of the containers' side at named fault points (pkg/faultpoint):
// a daemon built with the berth_faults tag whose shims and runtime stages
// die where BERTH_FAULT says. The daemon itself lives on and must clean
// up. Regression tests of what hack/torture -points found.

// faultDaemon is a daemon of the faults build with point armed.
func faultDaemon(t *testing.T, point string) *harness.Daemon {
	t.Helper()
	bin, err := harness.FaultsBinary()
	if err != nil {
		t.Fatal(err)
	}
	dd := fresh(t, harness.Options{Binary: bin, Env: []string{faultpoint.EnvVar + "=" + point}})
	setup(t, dd)
	return dd
}

// TestFaultShimDiesBeforeReady: a shim killed after it made the
// container but before it answered fails the start, and leaves neither
// process nor cgroup. (torture -points once found the cgroup left here,
// after the daemon's restart; this test does not reproduce that race,
// which the daemon's clean-up of a failed launch now covers.)
func TestFaultShimDiesBeforeReady(t *testing.T) {
	dd := faultDaemon(t, "shim.create.before-ready")
	id := dockerOn(t, dd, "create", "busybox", "sleep", "600")
	if _, _, code := dockerRes(t, dd, "start", id); code == 0 {
		t.Fatal("the start succeeded though its shim died")
	}
	if got := format(t, dd, id, "{{.State.Running}}"); got != "false" {
		t.Fatalf("running after a failed start: %s", got)
	}
	harness.Eventually(t, 5*time.Second, "the container's cgroup to go", func() bool { return len(containerCgroups(id)) == 0 })
}

// TestFaultInitStageDiesBeforeExec: a container's init stage killed
// between the start and its execve is an exit 137, cleaned up.
func TestFaultInitStageDiesBeforeExec(t *testing.T) {
	dd := faultDaemon(t, "stage.init.before-exec")
	id := dockerOn(t, dd, "create", "busybox", "sleep", "600")
	dockerRes(t, dd, "start", id)
	waitState(t, dd, id, "exited", 10*time.Second)
	if got := format(t, dd, id, "{{.State.ExitCode}}"); got != "137" {
		t.Fatalf("exit code of the killed init stage: %s", got)
	}
	harness.Eventually(t, 5*time.Second, "the container's cgroup to go", func() bool { return len(containerCgroups(id)) == 0 })
}

// TestFaultExecStageDies: an exec whose stage is killed before its
// execve ends with 137, and its container runs on.
func TestFaultExecStageDies(t *testing.T) {
	dd := faultDaemon(t, "stage.exec.before-exec")
	id := runD(t, dd, "busybox", "sleep", "600")
	pid, _ := strconv.Atoi(format(t, dd, id, "{{.State.Pid}}"))
	if _, _, code := dockerRes(t, dd, "exec", id, "true"); code != 137 {
		t.Fatalf("exec whose stage was killed: exit %d, want 137", code)
	}
	if got := format(t, dd, id, "{{.State.Status}} {{.State.Pid}}"); got != "running "+strconv.Itoa(pid) {
		t.Fatalf("the container after its exec's stage died: %s (pid was %d)", got, pid)
	}
}
