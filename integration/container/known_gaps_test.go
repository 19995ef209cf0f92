//go:build gaps

// Tests of dockerd behaviour berth does not have yet. CI runs the package
// without the tag; `go test -tags gaps ./integration/container` runs these
// too. Each asserts what dockerd 20.10 (Debian's docker.io) does, checked
// against a real dockerd on its own socket; move a test back to its topic
// file when it passes.
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

// TestRemoveRunningMessage: dockerd 20.10's wording for rm of a running
// container (the issue quotes it).
func TestRemoveRunningMessage(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "busybox", "sleep", "600")
	code, body := api(t, d, "DELETE", "/containers/"+id, "")
	if code != 409 || apiMessage(body) != "You cannot remove a running container "+id+". Stop the container before attempting removal or force remove" {
		t.Fatalf("rm running: %d %s", code, body)
	}
}

// TestRestartPolicyMessages: dockerd 20.10's words for bad restart
// policies, at create and update, with nothing created or changed.
func TestRestartPolicyMessages(t *testing.T) {
	setup(t, d)
	before := psAll(t, d)
	for _, c := range []struct{ body, msg string }{
		{`{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"bogus"}}}`, "invalid restart policy 'bogus'"},
		{`{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}}`, "maximum retry count cannot be used with restart policy 'always'"},
		{`{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}}}`, "maximum retry count cannot be negative"},
	} {
		code, body := api(t, d, "POST", "/containers/create", c.body)
		if code != 400 || apiMessage(body) != c.msg {
			t.Errorf("%s: %d %q, want 400 %q", c.body, code, apiMessage(body), c.msg)
		}
	}
	if after := psAll(t, d); after != before {
		t.Errorf("docker ps -a changed")
	}
	_, e, code := dockerRes(t, d, "run", "--restart", "bogus", "busybox", "true")
	if code != 125 || !strings.Contains(e, "invalid restart policy 'bogus'") {
		t.Errorf("docker run --restart bogus: %d %q", code, e)
	}
	id := runD(t, d, "busybox", "sleep", "600")
	code, body := api(t, d, "POST", "/containers/"+id+"/update", `{"RestartPolicy":{"Name":"always","MaximumRetryCount":2}}`)
	if code != 400 || apiMessage(body) != "maximum retry count cannot be used with restart policy 'always'" {
		t.Errorf("update: %d %s", code, body)
	}
}

// TestExecPausedMessage: dockerd names the container as the user did.
func TestExecPausedMessage(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "p")
	runD(t, d, "--name", name, "busybox", "sleep", "600")
	docker(t, "pause", name)
	defer docker(t, "unpause", name)
	code, body := api(t, d, "POST", "/containers/"+name+"/exec", `{"Cmd":["true"]}`)
	if code != 409 || apiMessage(body) != "Container "+name+" is paused, unpause the container before exec" {
		t.Fatalf("exec paused: %d %s", code, body)
	}
}

// TestPsFilterMessages: dockerd 20.10 capitalises "Invalid filter".
func TestPsFilterMessages(t *testing.T) {
	setup(t, d)
	code, body := api(t, d, "GET", `/containers/json?filters={"nosuch":{"x":true}}`, "")
	if code != 400 || apiMessage(body) != "Invalid filter 'nosuch'" {
		t.Errorf("unknown filter: %d %s", code, body)
	}
	code, body = api(t, d, "GET", `/containers/json?all=1&filters={"status":{"bogus":true}}`, "")
	if code != 400 || apiMessage(body) != "Invalid filter 'status=bogus'" {
		t.Errorf("bad status: %d %s", code, body)
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
	waitFor(t, 5*time.Second, "the container to exit during the outage", func() bool { return !pidAlive(quitPid) })
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
	waitFor(t, 15*time.Second, "the always container to run a new process", func() bool {
		return format(t, dd, always, "{{.State.Status}}") == "running" && format(t, dd, always, "{{.State.Pid}}") != strconv.Itoa(alwaysPid)
	})
	if got := strings.TrimSpace(dockerOn(t, dd, "exec", always, "echo", "ok")); got != "ok" {
		t.Fatalf("exec: %q", got)
	}
	dockerOn(t, dd, "stop", "-t", "0", always)
}
