package container

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// A test daemon that dies with a paused container must not leave it
// frozen on the machine: the harness's clean-up thaws and ends what is
// left of its containers (see harness.KillContainers).
func TestHarnessCleanupEndsPausedContainers(t *testing.T) {
	dd, err := harness.New(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cleaned := false
	t.Cleanup(func() {
		if !cleaned {
			dd.Cleanup()
		}
	})
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	setup(t, dd)
	id := runD(t, dd, "--network", "none", "busybox", "sleep", "600")
	pid, err := strconv.Atoi(strings.TrimSpace(dockerOn(t, dd, "inspect", "-f", "{{.State.Pid}}", id)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid %d %v", pid, err)
	}
	dockerOn(t, dd, "pause", id)
	if err := dd.Kill(); err != nil {
		t.Fatal(err)
	}
	dd.Cleanup()
	cleaned = true
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("container process %d outlived its daemon's clean-up", pid)
}
