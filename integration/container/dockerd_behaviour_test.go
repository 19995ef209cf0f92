// Tests of dockerd behaviours berth gained after the suite was written
// (they started in known_gaps_test.go).
package container

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestBlkioWeight: the weight shows in the container's cgroup when the
// kernel has the file; otherwise dockerd warns "Weight discarded" and runs
// the container anyway.
func TestBlkioWeight(t *testing.T) {
	setup(t, d)
	v1 := "/sys/fs/cgroup/blkio/blkio.weight"
	if cgroup2() {
		t.Skip("cgroup v2 io.weight depends on the scheduler; covered by v1 hosts")
	}
	if _, err := os.Stat(v1); err == nil {
		if got := runOut(t, "--blkio-weight", "300", "busybox", "cat", v1); got != "300" {
			t.Fatalf("blkio.weight = %q", got)
		}
		return
	}
	out, errOut, code := dockerRes(t, d, "run", "--rm", "--blkio-weight", "300", "busybox", "echo", "ran")
	if code != 0 || strings.TrimSpace(out) != "ran" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.") {
		t.Fatalf("no discard warning; stderr %q", errOut)
	}
}

// TestEnvHomeFromPasswd: HOME comes from the user's entry in the image's
// /etc/passwd (root: /root), as dockerd sets it.
func TestEnvHomeFromPasswd(t *testing.T) {
	setup(t, d)
	if got := runOut(t, "busybox", "sh", "-c", "echo $HOME"); got != "/root" {
		t.Errorf("HOME for root %q, want /root", got)
	}
	if got := runOut(t, "-u", "user", "busybox", "sh", "-c", "echo $HOME"); got != "/home/user" {
		t.Errorf("HOME for user %q, want /home/user", got)
	}
}

// TestEnvOrder: dockerd keeps the user's -e first and appends the image's
// variables it does not override.
func TestEnvOrder(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "e")
	docker(t, "create", "--name", name, "-e", "X=1", "busybox", "true")
	if got := format(t, d, name, "{{json .Config.Env}}"); got != `["X=1","PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]` {
		t.Fatalf("Config.Env %s", got)
	}
}

// TestInspectGraphDriverData: dockerd fills LowerDir, MergedDir, UpperDir
// and WorkDir for created and running containers.
func TestInspectGraphDriverData(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "g")
	docker(t, "create", "--name", name, "busybox", "true")
	for _, k := range []string{"LowerDir", "MergedDir", "UpperDir", "WorkDir"} {
		if got := format(t, d, name, "{{index .GraphDriver.Data \""+k+"\"}}"); got == "" || got == "<no value>" {
			t.Errorf("GraphDriver.Data.%s empty", k)
		}
	}
}

// TestTopRightAfterStart: once `docker run -d` returns, the container runs
// its command (dockerd's start returns after runc exec'd it); berth at
// times still shows its init stage ("berthd-init", or a memfd number as
// comm). Intermittent.
func TestTopRightAfterStart(t *testing.T) {
	setup(t, d)
	for i := 0; i < 5; i++ {
		id := runD(t, d, "busybox", "sleep", "600")
		out := docker(t, "top", id, "-o", "pid,comm")
		if !strings.Contains(out, "sleep") {
			t.Fatalf("run %d: top right after start:\n%s", i, out)
		}
	}
}

// TestUnknownLogDriver: dockerd refuses a log driver it does not have, at
// create, and creates nothing.
func TestUnknownLogDriver(t *testing.T) {
	setup(t, d)
	before := psAll(t, d)
	_, e, code := dockerRes(t, d, "run", "--rm", "--log-driver", "nosuchdriver", "busybox", "true")
	if code != 125 || !strings.Contains(e, `error looking up logging plugin nosuchdriver: plugin "nosuchdriver" not found`) {
		t.Fatalf("unknown log driver: %d %q", code, e)
	}
	if after := psAll(t, d); after != before {
		t.Errorf("docker ps -a changed")
	}
}

// TestEventsDieBeforeStop: dockerd emits die, then stop.
func TestEventsDieBeforeStop(t *testing.T) {
	setup(t, d)
	since := time.Now()
	id := runD(t, d, "busybox", "sleep", "600")
	docker(t, "stop", "-t", "0", id)
	var got []string
	for _, a := range actions(eventsBetween(t, d, id, since)) {
		if a == "die" || a == "stop" {
			got = append(got, a)
		}
	}
	if strings.Join(got, ",") != "die,stop" {
		t.Fatalf("events %v, want die then stop", got)
	}
}

// TestKill9WithoutLiveRestore: without live-restore dockerd, on start after
// a crash, shuts down the containers still running and restarts those with
// a policy; an exit during the outage is reported with its code.
func TestKill9WithoutLiveRestore(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	plain := runD(t, dd, "--stop-timeout", "1", "busybox", "sleep", "600")
	always := runD(t, dd, "--restart", "always", "--stop-timeout", "1", "busybox", "sleep", "600")
	quit := runD(t, dd, "busybox", "sh", "-c", "while [ ! -f /tmp/go ]; do sleep 0.05; done; exit 7")
	plainPid, _ := strconv.Atoi(format(t, dd, plain, "{{.State.Pid}}"))
	alwaysPid, _ := strconv.Atoi(format(t, dd, always, "{{.State.Pid}}"))
	quitPid, _ := strconv.Atoi(format(t, dd, quit, "{{.State.Pid}}"))
	dd.Kill()
	signalFile(t, quitPid, "/tmp/go")
	harness.Eventually(t, 5*time.Second, "the container to exit during the outage", func() bool { return !pidAlive(quitPid) })
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	waitState(t, dd, quit, "exited", 10*time.Second)
	if got := format(t, dd, quit, "{{.State.ExitCode}}"); got != "7" {
		t.Fatalf("exit during the outage reported as %s, want 7", got)
	}
	waitState(t, dd, plain, "exited", 15*time.Second)
	if pidAlive(plainPid) {
		t.Fatal("the container without a policy is still running after a restart without live-restore")
	}
	harness.Eventually(t, 15*time.Second, "the always container to run a new process", func() bool {
		return format(t, dd, always, "{{.State.Status}}") == "running" && format(t, dd, always, "{{.State.Pid}}") != strconv.Itoa(alwaysPid)
	})
	if got := strings.TrimSpace(dockerOn(t, dd, "exec", always, "echo", "ok")); got != "ok" {
		t.Fatalf("exec: %q", got)
	}
	dockerOn(t, dd, "stop", "-t", "0", always)
}
