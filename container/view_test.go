package container

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

// ps listed a container only once the operation holding its lock (a
// start waiting for the runtime) was done: under load, seconds. It now
// takes the container as last saved instead, and the live one when the
// lock is free.
func TestLockOrViewDoesNotWaitForAnOperation(t *testing.T) {
	c := New("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", t.TempDir())
	c.Name = "/v"
	c.Config = &container.Config{Image: "busybox"}
	c.HostConfig = &container.HostConfig{NetworkMode: "none"}
	if got, unlock := c.LockOrView(); got != c {
		t.Fatal("an unlocked container without a view: not itself")
	} else {
		unlock()
	}
	c.Lock()
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	// An operation holds the lock (a start waiting for its runtime)
	// and has changed the container in memory, not on disk yet.
	c.HostConfig.NetworkMode = "host"
	c.Name = "/w"
	v, _ := lockOrViewWithin(t, c, 5*time.Second)
	if v == nil {
		t.Fatal("LockOrView waited for the operation's lock")
	}
	if v == c || v.State.Running || v.Name != "/v" || v.HostConfig.NetworkMode != "none" || v.Root() != c.Root() {
		t.Fatalf("view during the operation: %+v %+v, want the saved, created container", v.State, v.HostConfig)
	}
	// A transition is in the view at once, before it is saved: it wakes
	// waiters (docker kill returns), and the ps that follows sees it.
	c.State.SetRunning(42, true)
	if v := c.View(); !v.State.Running || v.State.Pid != 42 || v.Name != "/w" || v.HostConfig.NetworkMode != "none" {
		t.Fatalf("view after a transition: %+v %+v, name %s", v.State, v.HostConfig, v.Name)
	}
	// While a transition is under way (begun, not yet published), the
	// view is too old: LockOrView waits for the lock.
	c.State.begin()
	v, waiting := lockOrViewWithin(t, c, 200*time.Millisecond)
	if v != nil {
		t.Fatalf("LockOrView returned %+v during a transition", v.State)
	}
	// SaveState publishes the new state and keeps the host config saved last.
	if err := c.SaveState(); err != nil {
		t.Fatal(err)
	}
	if v := c.View(); !v.State.Running || v.State.Pid != 42 || v.HostConfig.NetworkMode != "none" || v.State.changes.Load() != c.State.changes.Load() {
		t.Fatalf("view after SaveState: %+v %+v", v.State, v.HostConfig)
	}
	c.Unlock()
	if got := <-waiting; got != c {
		t.Fatal("the waiting LockOrView did not get the container itself")
	}
	if got, unlock := c.LockOrView(); got != c {
		t.Fatal("with the lock free, LockOrView did not return the container itself")
	} else {
		unlock()
	}
}

// lockOrViewWithin is what LockOrView returns within d, or nil and the
// channel that yields what it returns once it has the lock (and has
// released it).
func lockOrViewWithin(t *testing.T, c *Container, d time.Duration) (*Container, <-chan *Container) {
	t.Helper()
	done := make(chan *Container, 1)
	go func() {
		v, unlock := c.LockOrView()
		unlock()
		done <- v
	}()
	select {
	case v := <-done:
		return v, nil
	case <-time.After(d):
		return nil, done
	}
}
