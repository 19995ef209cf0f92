package bridge

import (
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/network/internal/nettest"
)

// nsSleeper starts a process inside ns and returns its pid once it is
// really inside (ip netns exec switches after the fork, and a pid taken too
// early still names the host's namespace); it is killed at test end.
func nsSleeper(t *testing.T, ns nettest.Netns) int {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var want syscall.Stat_t
	if err := syscall.Stat(ns.Path, &want); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var got syscall.Stat_t
		if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid), &got); err == nil && got.Ino == want.Ino && got.Dev == want.Dev {
			return cmd.Process.Pid
		}
	}
	t.Fatalf("process never entered %s", ns.Name)
	return 0
}
