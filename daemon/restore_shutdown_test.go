package daemon

import (
	"context"
	"testing"
)

// A daemon stopped while it restores (a graceful stop right after a
// start, hack/torture's scale scenario) took the containers it had not
// reached for gone, since their shims' answers were cut short by the
// shutdown, and killed them: with live-restore, 6 to 35 of 300 did not
// survive the next restart. They now stay as saved for the next daemon.
func TestRestoreCutShortByShutdownLeavesContainersRunning(t *testing.T) {
	d := newFakeDaemon(t, liveRestore)
	id := d.run(t, "live")
	d = d.restart(t, liveRestore)
	c, err := d.containers.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the shutdown has begun
	d.restoreContainer(ctx, c)
	c.Lock()
	running, pid := c.State.Running, c.State.Pid
	c.Unlock()
	if !running || pid == 0 {
		t.Fatalf("after a restore cut short: running=%v pid=%d, want it left running", running, pid)
	}
	if s := d.rt.shim(d.shimDir(id)); s == nil || s.state() != "running" {
		t.Fatal("the container's shim was ended")
	}
	if k := d.rt.callsOf("kill"); len(k) > 0 {
		t.Fatalf("kills: %v", k)
	}
}
