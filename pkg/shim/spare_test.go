package shim_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/runtime/bundletest"
	"github.com/berthd/berth/pkg/shim"
)

// spares lists the waiting spare shims among parent's children: argv
// "berthd shim", still in "/" (a shim with a container is in its
// directory).
func spares(parent int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(parent) {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); string(cmd) == "berthd\x00shim\x00" && cwd == "/" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// leaveSpare runs b to its end, which leaves a spare shim behind, and
// returns the spare. The next container of b uses b's cgroup too: the
// first's shim removes it when its container exits, so the next is made
// after that.
func leaveSpare(t *testing.T, b *bundletest.Bundle) int {
	t.Helper()
	first, _ := launch(t, b, nil)
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	return waitForSpare(t)
}

// waitForSpare returns the one spare shim a launch left behind.
func waitForSpare(t *testing.T) int {
	t.Helper()
	for i := 0; i < 200; i++ {
		if s := spares(os.Getpid()); len(s) == 1 {
			return s[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no spare shim after a launch: %v", spares(os.Getpid()))
	return 0
}

// A launch leaves a spare shim behind, the next launch makes it the
// container's shim, and it works as one started for the container.
func TestLaunchUsesSpare(t *testing.T) {
	b := bundletest.New(t, "sh", "-c", "echo hi; exit 3")
	spare := leaveSpare(t, b)
	c, dir := launch(t, b, nil)
	st, err := c.State(context.Background())
	if err != nil || st.ShimPid != spare {
		t.Fatalf("second container's shim is %d (%v), the spare was %d", st.ShimPid, err, spare)
	}
	if cwd, _ := os.Readlink("/proc/" + strconv.Itoa(spare) + "/cwd"); cwd != dir {
		t.Errorf("spare's working directory %q, want %q", cwd, dir)
	}
	a, err := c.Attach(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, _, _, err := a.Collect()
	if err != nil || out != "hi\n" {
		t.Fatalf("attach: %q %v", out, err)
	}
	ex, err := c.Wait(context.Background())
	if err != nil || ex.Code != 3 {
		t.Fatalf("exit %+v %v", ex, err)
	}
}

// A spare whose launcher is gone exits instead of waiting for ever.
func TestSpareExitsWithItsLauncher(t *testing.T) {
	b := sh(t, "sleep 60")
	dir := t.TempDir()
	// A fake daemon launches once, which leaves a spare, then idles.
	daemon := startFakeDaemon(t, dir, shim.Config{ID: fmt.Sprintf("shim-%d-spare", os.Getpid()), Bundle: b.Dir, Spec: b.Spec, RuntimeRoot: filepath.Join(dir, "runtime")})
	c := shim.Dial(dir)
	t.Cleanup(func() {
		_ = c.Kill(context.Background(), syscall.SIGKILL, true)
		_, _ = c.Wait(context.Background())
	})
	var spare int
	for i := 0; i < 300 && spare == 0; i++ {
		if s := spares(daemon.Process.Pid); len(s) == 1 {
			spare = s[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = daemon.Process.Kill()
	_ = daemon.Wait()
	if spare == 0 {
		t.Fatal("the fake daemon has no spare shim")
	}
	for i := 0; i < 300; i++ {
		// Gone, or a zombie that its new parent has yet to reap.
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", spare)); err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("spare %d still running after its launcher died", spare)
	_ = syscall.Kill(spare, syscall.SIGKILL)
}

// A spare that died while it waited, or is dying as it is handed the
// container, costs a launch nothing but time: the launch starts another
// shim for its container.
func TestLaunchAfterSpareDied(t *testing.T) {
	b := bundletest.New(t, "sh", "-c", "exit 5")
	spare := leaveSpare(t, b)
	if err := syscall.Kill(spare, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// At once: the hand-over may fail (the spare is gone), or be
	// written while the spare is still dying (its leader a zombie whose
	// other threads still hold the control pipe) and end without a word.
	// Either way the launch goes on with a new shim.
	c, _ := launch(t, b, nil)
	st, err := c.State(context.Background())
	if err != nil || st.ShimPid == spare {
		t.Fatalf("second container's shim %d (%v), the dead spare was %d", st.ShimPid, err, spare)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ex, err := c.Wait(context.Background()); err != nil || ex.Code != 5 {
		t.Fatalf("exit %+v %v", ex, err)
	}
}
