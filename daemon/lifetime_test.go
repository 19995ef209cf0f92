package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	ctr "github.com/berthd/berth/container"
)

// restartingContainer is a container waiting out its restart policy's
// back-off after exiting with code 3.
func restartingContainer(t *testing.T) *ctr.Container {
	t.Helper()
	c := ctr.New(strings.Repeat("e", 64), t.TempDir())
	c.Config = &container.Config{}
	c.HostConfig = &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways}}
	c.State.SetRunning(0, true)
	c.State.SetRestarting(3, false)
	return c
}

func TestShutdownEndsRestartBackoffAtOnce(t *testing.T) {
	d := &Daemon{}
	c := restartingContainer(t)
	ended := make(chan struct{})
	d.life.Go(func(ctx context.Context) {
		defer close(ended)
		d.restartAfter(ctx, c, time.Hour)
	})

	began := time.Now()
	d.life.beginShutdown()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the restart back-off did not end when shutdown began")
	}
	if !d.life.finish(5 * time.Second) {
		t.Fatal("background work still running after the back-off ended")
	}
	if waited := time.Since(began); waited > 2*time.Second {
		t.Fatalf("shutdown waited %s for an hour's back-off", waited)
	}

	c.Lock()
	defer c.Unlock()
	if c.State.Running || c.State.Restarting || c.State.ExitCode != 3 {
		t.Fatalf("state after an interrupted back-off: running=%v restarting=%v exit=%d; want stopped with exit 3",
			c.State.Running, c.State.Restarting, c.State.ExitCode)
	}
	if c.RestartCount != 0 {
		t.Fatalf("RestartCount = %d: a restart was attempted during shutdown", c.RestartCount)
	}
	// Saved stopped, so that the next daemon's restart policy (not a
	// lost shim's 137) decides what comes back.
	b, err := os.ReadFile(filepath.Join(c.Root(), "config.v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var saved struct {
		State struct{ Running, Restarting bool }
	}
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	if saved.State.Running || saved.State.Restarting {
		t.Fatalf("saved state %+v, want stopped", saved.State)
	}
}

func TestShutdownStopsRestartPolicy(t *testing.T) {
	d := &Daemon{}
	c := restartingContainer(t)
	c.Lock()
	defer c.Unlock()
	if restart, delay := d.shouldRestart(c, 3, false); !restart || delay != restartBackoffMin {
		t.Fatalf("before shutdown: shouldRestart = %v, %s; want true, %s", restart, delay, restartBackoffMin)
	}
	d.life.beginShutdown()
	if restart, _ := d.shouldRestart(c, 3, false); restart {
		t.Fatal("a daemon shutting down applied a restart policy")
	}
}

func TestLifetimeFinishWaitsForItsWork(t *testing.T) {
	var l lifetime
	ended := make(chan struct{})
	l.Go(func(ctx context.Context) {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // some clean-up after the end
		close(ended)
	})
	if !l.finish(5 * time.Second) {
		t.Fatal("finish timed out on work that honours its context")
	}
	select {
	case <-ended:
	default:
		t.Fatal("finish returned before the work it owns ended")
	}
}

func TestLifetimeFinishIsBounded(t *testing.T) {
	var l lifetime
	stuck := make(chan struct{})
	defer close(stuck)
	l.Go(func(context.Context) { <-stuck })
	began := time.Now()
	if l.finish(100 * time.Millisecond) {
		t.Fatal("finish reported stuck work as ended")
	}
	if waited := time.Since(began); waited > 2*time.Second {
		t.Fatalf("finish waited %s, bound was 100ms", waited)
	}
	// Work started after the end runs, with an ended context, and is not
	// waited for (its Add would race the Wait).
	ran := make(chan error, 1)
	l.Go(func(ctx context.Context) { ran <- ctx.Err() })
	select {
	case err := <-ran:
		if err == nil {
			t.Fatal("work started after the end got a live context")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("work started after the end never ran")
	}
}
