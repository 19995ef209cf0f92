package daemon

import (
	"testing"

	"github.com/moby/moby/api/types/events"
	"github.com/sirupsen/logrus"
)

// A reload (SIGHUP) takes the reloadable keys of the configuration read
// again, leaves the others as the daemon started with them, logs dockerd's
// `daemon reload` event with the new values, and changes nothing when the
// new configuration is invalid.
func TestReloadAppliesOnlyReloadableKeys(t *testing.T) {
	level := logrus.GetLevel()
	t.Cleanup(func() { logrus.SetLevel(level) })
	d := newFakeDaemon(t)
	dataRoot := d.Config().DataRoot

	bad := d.Config().Clone()
	bad.LogLevel = "loud"
	bad.Labels = []string{"x=y"}
	if err := d.Reload(bad); err == nil {
		t.Fatal("an invalid configuration was reloaded")
	}
	if got := d.Config().Labels; len(got) != 0 {
		t.Fatalf("labels %v after a refused reload", got)
	}

	next := d.Config().Clone()
	next.Labels = []string{"x=y"}
	next.LiveRestore = true
	next.MaxConcurrentDownloads = 9
	next.DataRoot = "/elsewhere"
	next.BridgeName = "br-other"
	if err := d.Reload(next); err != nil {
		t.Fatal(err)
	}
	c := d.Config()
	if len(c.Labels) != 1 || !c.LiveRestore || c.MaxConcurrentDownloads != 9 {
		t.Errorf("reloadable keys not applied: labels %v, live-restore %v, downloads %d", c.Labels, c.LiveRestore, c.MaxConcurrentDownloads)
	}
	if c.DataRoot != dataRoot || c.BridgeName != "none" {
		t.Errorf("keys that need a restart changed: data-root %s, bridge %s", c.DataRoot, c.BridgeName)
	}
	past, _, cancel := d.events.Subscribe(func(m events.Message) bool { return m.Type == events.DaemonEventType })
	cancel()
	if len(past) != 1 || past[0].Action != events.ActionReload {
		t.Fatalf("daemon events %+v, want one reload", past)
	}
	attrs := past[0].Actor.Attributes
	if attrs["labels"] != "[x=y]" || attrs["live-restore"] != "true" || attrs["max-concurrent-downloads"] != "9" || past[0].Actor.ID != d.ID() {
		t.Errorf("reload event %+v", past[0].Actor)
	}
}

// The seam costs production nothing: the real runtime is a zero-size
// value, and a shim client is the one allocation shim.Dial always made.
func TestRuntimeSeamAllocations(t *testing.T) {
	d := &Daemon{}
	if n := testing.AllocsPerRun(100, func() { _ = d.containerRuntime() }); n != 0 {
		t.Errorf("containerRuntime: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = d.containerRuntime().dial("/run/berth/s/x") }); n != 1 {
		t.Errorf("dial: %v allocations, want 1 (the client)", n)
	}
}
