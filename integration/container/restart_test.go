package container

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

func TestRestartPolicyOnFailure(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "of")
	since := time.Now()
	id := runD(t, d, "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1")
	// Back-off is 100ms then 200ms: the third run is the last.
	harness.Eventually(t, 15*time.Second, "on-failure:2 to give up", func() bool {
		return format(t, d, id, "{{.State.Status}} {{.RestartCount}}") == "exited 2"
	})
	time.Sleep(time.Second)
	if got := format(t, d, id, "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}"); got != "exited 2 1" {
		t.Fatalf("after giving up: %s", got)
	}
	if n := strings.Count(docker(t, "logs", id), "run"); n != 3 {
		t.Fatalf("%d runs, want 3", n)
	}
	var starts, dies int
	for _, e := range eventsBetween(t, d, id, since) {
		switch e.Action {
		case "start":
			starts++
		case "die":
			dies++
			if e.Actor.Attributes["exitCode"] != "1" {
				t.Errorf("die event exitCode %q", e.Actor.Attributes["exitCode"])
			}
		}
	}
	if starts != 3 || dies != 3 {
		t.Fatalf("%d start and %d die events, want 3 each", starts, dies)
	}
	// A successful exit is not restarted by on-failure.
	id2 := runD(t, d, "--restart", "on-failure", "busybox", "true")
	waitState(t, d, id2, "exited", 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	if got := format(t, d, id2, "{{.State.Status}} {{.RestartCount}}"); got != "exited 0" {
		t.Fatalf("on-failure after exit 0: %s", got)
	}
}

func TestRestartPolicyAlways(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 0")
	harness.Eventually(t, 20*time.Second, "two restarts", func() bool {
		n, _ := strconv.Atoi(format(t, d, id, "{{.RestartCount}}"))
		return n >= 2
	})
	// docker stop ends the loop for good.
	docker(t, "stop", "-t", "1", id)
	n1 := format(t, d, id, "{{.RestartCount}}")
	time.Sleep(time.Second)
	if got := format(t, d, id, "{{.State.Status}} {{.RestartCount}}"); got != "exited "+n1 {
		t.Fatalf("after docker stop: %s (count was %s)", got, n1)
	}
	// The restarting state shows in ps while it backs off.
	id2 := runD(t, d, "--restart", "always", "busybox", "sh", "-c", "exit 2")
	harness.Eventually(t, 10*time.Second, "a restarting status", func() bool {
		return strings.HasPrefix(strings.TrimSpace(docker(t, "ps", "-a", "--filter", "id="+id2, "--format", "{{.Status}}")), "Restarting (2)")
	})
}

// TestRestartPoliciesAcrossDaemonRestart: without live-restore the daemon
// stops containers when it shuts down (--stop-timeout 1 keeps that
// short); on start, always comes back even after a docker stop,
// unless-stopped only if it was not stopped, no stays down.
func TestRestartPoliciesAcrossDaemonRestart(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	always := runD(t, dd, "--stop-timeout", "1", "--restart", "always", "busybox", "sleep", "600")
	alwaysStopped := runD(t, dd, "--stop-timeout", "1", "--restart", "always", "busybox", "sleep", "600")
	unless := runD(t, dd, "--stop-timeout", "1", "--restart", "unless-stopped", "busybox", "sleep", "600")
	unlessStopped := runD(t, dd, "--stop-timeout", "1", "--restart", "unless-stopped", "busybox", "sleep", "600")
	none := runD(t, dd, "--stop-timeout", "1", "busybox", "sleep", "600")
	dockerOn(t, dd, "stop", "-t", "0", alwaysStopped, unlessStopped)
	if err := dd.Restart(false); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{always: "running", alwaysStopped: "running", unless: "running", unlessStopped: "exited", none: "exited"} {
		waitState(t, dd, id, want, 15*time.Second)
	}
	// They work after the restart.
	if got := strings.TrimSpace(dockerOn(t, dd, "exec", unless, "echo", "ok")); got != "ok" {
		t.Fatalf("exec after daemon restart: %q", got)
	}
	dockerOn(t, dd, "stop", "-t", "0", always, alwaysStopped, unless)
}

// TestDaemonShutdownDuringRestartBackoff: a daemon told to stop while a
// container waits out a long restart back-off exits at once (it neither
// waits the back-off out nor restarts the container), and its next start
// brings the container back by its policy.
func TestDaemonShutdownDuringRestartBackoff(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	id := runD(t, dd, "--restart", "always", "busybox", "sh", "-c", "exit 3")
	// 100 ms doubling: after the sixth restart the back-off is 6.4 s.
	harness.Eventually(t, 30*time.Second, "six restarts", func() bool {
		n, _ := strconv.Atoi(format(t, dd, id, "{{.RestartCount}}"))
		return n >= 6
	})
	harness.Eventually(t, 5*time.Second, "a restarting status", func() bool {
		return format(t, dd, id, "{{.State.Status}}") == "restarting"
	})
	began := time.Now()
	if err := dd.Stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("shutdown took %s with a container in a restart back-off", took)
	}
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 15*time.Second, "the container to run again after the daemon restart", func() bool {
		started, err := time.Parse(time.RFC3339Nano, format(t, dd, id, "{{.State.StartedAt}}"))
		return err == nil && started.After(began)
	})
	dockerOn(t, dd, "stop", "-t", "0", id)
}

// TestRunRmAcrossDaemonRestart: --rm containers that end while the daemon
// is down, or are stopped by its shutdown, are removed when it is back.
func TestRunRmAcrossDaemonRestart(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	short := runD(t, dd, "--rm", "busybox", "sleep", "1")
	long := runD(t, dd, "--rm", "--stop-timeout", "1", "busybox", "sleep", "600")
	dd.Kill()
	time.Sleep(1500 * time.Millisecond)
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 15*time.Second, "the --rm container that exited during the outage to be removed", func() bool {
		_, _, code := dockerRes(t, dd, "inspect", short)
		return code != 0
	})
	// A graceful restart stops the other one, and it goes too.
	if err := dd.Restart(false); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 15*time.Second, "the --rm container stopped by shutdown to be removed", func() bool {
		_, _, code := dockerRes(t, dd, "inspect", long)
		return code != 0
	})
}

// signalFile makes a container's waiting loop end from the host, by
// writing into its root through /proc (the daemon may be down).
func signalFile(t *testing.T, pid int, path string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join("/proc", strconv.Itoa(pid), "root", path), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func pidAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestLiveRestoreKill9: with live-restore, a kill -9 of the daemon leaves
// containers running; the restarted daemon controls them again, and one
// that exited during the outage is reported with its exit code.
func TestLiveRestoreKill9(t *testing.T) {
	dd := fresh(t, harness.Options{Config: `{"live-restore": true}`})
	setup(t, dd)
	keep := runD(t, dd, "busybox", "sleep", "600")
	quit := runD(t, dd, "busybox", "sh", "-c", "while [ ! -f /tmp/go ]; do sleep 0.05; done; exit 7")
	keepPid, _ := strconv.Atoi(format(t, dd, keep, "{{.State.Pid}}"))
	quitPid, _ := strconv.Atoi(format(t, dd, quit, "{{.State.Pid}}"))
	dd.Kill()
	signalFile(t, quitPid, "/tmp/go")
	harness.Eventually(t, 5*time.Second, "the container to exit during the outage", func() bool { return !pidAlive(quitPid) })
	if !pidAlive(keepPid) {
		t.Fatal("live-restore: the container died with the daemon")
	}
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	waitState(t, dd, quit, "exited", 10*time.Second)
	if got := format(t, dd, quit, "{{.State.ExitCode}}"); got != "7" {
		t.Fatalf("exit during the outage reported as %s, want 7", got)
	}
	if got := format(t, dd, keep, "{{.State.Status}} {{.State.Pid}}"); got != "running "+strconv.Itoa(keepPid) {
		t.Fatalf("kept container: %s (pid was %d)", got, keepPid)
	}
	if got := strings.TrimSpace(dockerOn(t, dd, "exec", keep, "echo", "still")); got != "still" {
		t.Fatalf("exec after restore: %q", got)
	}
	dockerOn(t, dd, "pause", keep)
	dockerOn(t, dd, "unpause", keep)
	// Its exit is seen by the new daemon.
	since := time.Now()
	dockerOn(t, dd, "stop", "-t", "1", keep)
	if got := format(t, dd, keep, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 137" {
		t.Fatalf("after stop: %s", got)
	}
	if pidAlive(keepPid) {
		t.Fatal("process alive after stop")
	}
	evs := eventsBetween(t, dd, keep, since)
	if !contains(actions(evs), "die") {
		t.Fatalf("no die event after restore: %v", actions(evs))
	}
}

// TestLiveRestoreGracefulShutdown: with live-restore, a daemon told to
// stop ends its own background work at once (the exit watchers, a
// health check, a detached exec's stream, a restart back-off) and leaves
// the containers running: none is recorded as exited, and the next daemon
// takes them back.
func TestLiveRestoreGracefulShutdown(t *testing.T) {
	dd := fresh(t, harness.Options{Config: `{"live-restore": true}`})
	setup(t, dd)
	keep := runD(t, dd, "--health-cmd", "true", "--health-interval", "1s", "busybox", "sleep", "600")
	keepPid, _ := strconv.Atoi(format(t, dd, keep, "{{.State.Pid}}"))
	dockerOn(t, dd, "exec", "-d", keep, "sleep", "600")
	flapping := runD(t, dd, "--restart", "always", "busybox", "sh", "-c", "exit 3")
	harness.Eventually(t, 20*time.Second, "a restart back-off of seconds", func() bool {
		n, _ := strconv.Atoi(format(t, dd, flapping, "{{.RestartCount}}"))
		return n >= 5
	})
	began := time.Now()
	if err := dd.Stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("a live-restore shutdown took %s", took)
	}
	if !pidAlive(keepPid) {
		t.Fatal("live-restore: the container died with the daemon")
	}
	if log := dd.Log(); strings.Contains(log, "lost the container's shim") || strings.Contains(log, "background work still running") {
		t.Fatalf("shutdown log:\n%s", dd.LogTail(20))
	}
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	if got := format(t, dd, keep, "{{.State.Status}} {{.State.Pid}}"); got != "running "+strconv.Itoa(keepPid) {
		t.Fatalf("kept container after the restart: %s (pid was %d)", got, keepPid)
	}
	if got := strings.TrimSpace(dockerOn(t, dd, "top", keep)); strings.Count(got, "sleep 600") != 2 {
		t.Fatalf("the detached exec did not outlive the daemon:\n%s", got)
	}
	harness.Eventually(t, 15*time.Second, "the restart policy to bring the flapping container back", func() bool {
		started, err := time.Parse(time.RFC3339Nano, format(t, dd, flapping, "{{.State.StartedAt}}"))
		return err == nil && started.After(began)
	})
	dockerOn(t, dd, "rm", "-f", keep, flapping)
}

// TestUnfinishedStartEnded: a daemon killed after it launched a container
// but before it recorded it as running (simulated by rewriting the saved
// state) leaves a shim serving a container it does not know about. The
// next daemon ends that shim and its process, and a start then runs the
// container once.
func TestUnfinishedStartEnded(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	id := runD(t, dd, "busybox", "sleep", "600")
	pid, _ := strconv.Atoi(format(t, dd, id, "{{.State.Pid}}"))
	// Should the daemon not end it, the process must not outlive the
	// test (its shim then records the exit and goes).
	t.Cleanup(func() {
		if pidAlive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	dd.Kill()
	cfgPath := filepath.Join(dd.DataRoot, "containers", id, "config.v2.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	st := cfg["State"].(map[string]any)
	st["Running"], st["Pid"], st["Status"] = false, 0, "created"
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if !pidAlive(pid) {
		t.Fatal("the container died with the daemon")
	}
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "the unrecorded container's process to be ended", func() bool { return !pidAlive(pid) })
	dockerOn(t, dd, "start", id)
	if got := format(t, dd, id, "{{.State.Status}}"); got != "running" {
		t.Fatalf("after start: %s", got)
	}
	if top := strings.TrimSpace(dockerOn(t, dd, "top", id)); strings.Count(top, "sleep 600") != 1 {
		t.Fatalf("docker top after the start:\n%s", top)
	}
	dockerOn(t, dd, "rm", "-f", id)
}
