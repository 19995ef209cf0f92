package container

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// shimOf is the PID of the shim watching the container whose init is pid.
func shimOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b)[bytes.LastIndexByte(b, ')')+1:])
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// awaitShimRebirth waits until the shim has re-executed itself at least
// once: its next image carries _BERTH_SHIM_IMAGE in its environment.
func awaitShimRebirth(t *testing.T, shim int) {
	t.Helper()
	harness.Eventually(t, 10*time.Second, "the shim's rebirth", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", shim))
		return err == nil && bytes.Contains(b, []byte("_BERTH_SHIM_IMAGE="))
	})
}

// TestShimRebornContainer: a container whose shim has re-executed itself
// into a fresh image (pkg/shim's rebirth, a second after the start) is
// driven as before through the docker CLI: exec, top, stats, pause,
// logs, stop with its exit code, and the same shim throughout.
func TestShimRebornContainer(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "busybox", "sh", "-c", `echo before; trap 'echo term; exit 3' TERM; while true; do sleep 0.1; done`)
	pid, _ := strconv.Atoi(format(t, d, id, "{{.State.Pid}}"))
	shim := shimOf(t, pid)
	awaitShimRebirth(t, shim)

	if got := strings.TrimSpace(docker(t, "exec", id, "echo", "hi")); got != "hi" {
		t.Fatalf("exec after rebirth: %q", got)
	}
	if out := docker(t, "top", id); !strings.Contains(out, "sleep") && !strings.Contains(out, "sh -c") {
		t.Fatalf("top after rebirth: %s", out)
	}
	if out := docker(t, "stats", "--no-stream", "--format", "{{.Container}} {{.MemUsage}}", id); !strings.HasPrefix(out, id[:12]) {
		t.Fatalf("stats after rebirth: %q", out)
	}
	docker(t, "pause", id)
	if got := format(t, d, id, "{{.State.Status}}"); got != "paused" {
		t.Fatalf("after pause: %s", got)
	}
	docker(t, "unpause", id)
	if got := strings.TrimSpace(docker(t, "logs", id)); got != "before" {
		t.Fatalf("logs after rebirth: %q", got)
	}
	if now := shimOf(t, pid); now != shim {
		t.Fatalf("the container's shim changed from %d to %d", shim, now)
	}
	docker(t, "stop", "-t", "5", id)
	if got := format(t, d, id, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 3" {
		t.Fatalf("after stop: %s", got)
	}
	if got := strings.TrimSpace(docker(t, "logs", id)); got != "before\nterm" {
		t.Fatalf("logs after stop: %q", got)
	}
}

// TestShimRebornLiveRestore: a daemon killed with SIGKILL finds a reborn
// shim again on its socket, and controls its container.
func TestShimRebornLiveRestore(t *testing.T) {
	dd := fresh(t, harness.Options{Config: `{"live-restore": true}`})
	setup(t, dd)
	id := runD(t, dd, "busybox", "sleep", "600")
	pid, _ := strconv.Atoi(format(t, dd, id, "{{.State.Pid}}"))
	awaitShimRebirth(t, shimOf(t, pid))
	dd.Kill()
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	if got := format(t, dd, id, "{{.State.Status}} {{.State.Pid}}"); got != "running "+strconv.Itoa(pid) {
		t.Fatalf("after the daemon's restart: %s (pid was %d)", got, pid)
	}
	if got := strings.TrimSpace(dockerOn(t, dd, "exec", id, "echo", "still")); got != "still" {
		t.Fatalf("exec after restore: %q", got)
	}
	dockerOn(t, dd, "stop", "-t", "1", id)
	if got := format(t, dd, id, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 137" {
		t.Fatalf("after stop: %s", got)
	}
	if pidAlive(pid) {
		t.Fatal("process alive after stop")
	}
}
