package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/moby/api/types/events"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/daemon/config"
)

// actions lists the actions of the events logged so far about id.
func (d *fakeDaemon) actions(id string) []string {
	past, _, cancel := d.events.Subscribe(func(m events.Message) bool { return m.Actor.ID == id })
	cancel()
	var out []string
	for _, m := range past {
		out = append(out, string(m.Action))
	}
	return out
}

// exitCode returns the recorded exit code and error of a container.
func (d *fakeDaemon) exitCode(t *testing.T, id string) (code int, msg string) {
	t.Helper()
	d.locked(t, id, func(c *ctr.Container) { code, msg = c.State.ExitCode, c.State.Error })
	return code, msg
}

// A stop logs kill, die and stop, in dockerd's order, and records the
// exit code of the signal that ended the process.
func TestStopEventsAndExitCode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ignore  bool
		timeout int
		events  string
		code    int
	}{
		{name: "ends on SIGTERM", timeout: 10, events: "create,start,kill,die,stop", code: 143},
		{name: "ignores SIGTERM", ignore: true, timeout: 0, events: "create,start,kill,kill,die,stop", code: 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newFakeDaemon(t)
			if tc.ignore {
				ignoreTERM(d)
			}
			id := d.run(t, "web")
			if err := d.ContainerStop(context.Background(), id, "", &tc.timeout); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(d.actions(id), ","); got != tc.events {
				t.Errorf("events %s, want %s", got, tc.events)
			}
			if code, _ := d.exitCode(t, id); code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
		})
	}
}

// A start the runtime refuses leaves the container exited with the code
// dockerd records (127 for a missing command, 126 for one that cannot
// run, 128 otherwise) and its error, answered 400 for the user's
// mistake; an --rm container goes.
func TestStartFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error // as the runtime reports it: words and errno
		status int
		code   int
		rm     bool
	}{
		{name: "missing command", err: fmt.Errorf(`exec: "nosuch": executable file not found in $PATH: %w`, syscall.ENOENT), status: 400, code: 127},
		{name: "not executable", err: fmt.Errorf("exec /etc/passwd: %w", syscall.EACCES), status: 400, code: 126},
		{name: "runtime fault", err: fmt.Errorf("cgroup: %w", syscall.ENOSPC), status: 500, code: 128},
		{name: "--rm container", err: fmt.Errorf(`exec: "nosuch": executable file not found in $PATH: %w`, syscall.ENOENT), status: 400, code: 127, rm: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newFakeDaemon(t)
			d.rt.setLaunchErr(tc.err)
			var id string
			if tc.rm {
				id = d.create(t, "web", autoRemove)
			} else {
				id = d.create(t, "web")
			}
			err := d.ContainerStart(context.Background(), id)
			if got := statusOf(err); got != tc.status || !strings.Contains(err.Error(), tc.err.Error()) {
				t.Fatalf("start: %d %v, want %d with %q", got, err, tc.status, tc.err)
			}
			if tc.rm {
				d.waitState(t, id, "")
				return
			}
			if got := d.state(t, id); got != created {
				t.Errorf("state %q, want created (dockerd: never started)", got)
			}
			if code, msg := d.exitCode(t, id); code != tc.code || !strings.Contains(msg, tc.err.Error()) {
				t.Errorf("exit code %d, error %q; want %d with %q", code, msg, tc.code, tc.err)
			}
			// The next start, with the fault gone, runs it.
			d.rt.setLaunchErr(nil)
			if err := d.ContainerStart(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			if code, msg := d.exitCode(t, id); code != 0 || msg != "" {
				t.Errorf("after a good start: exit code %d, error %q", code, msg)
			}
		})
	}
}

// docker restart of an --rm container keeps it (its stop is not the
// end of its run, as in dockerd), and counts as a start by the user.
func TestRestartKeepsAutoRemoveContainer(t *testing.T) {
	d := newFakeDaemon(t)
	id := d.run(t, "web", autoRemove)
	// Time enough to end on SIGTERM: with 0 a SIGKILL may follow.
	timeout := 10
	if err := d.ContainerRestart(context.Background(), id, "", &timeout); err != nil {
		t.Fatal(err)
	}
	if got := d.state(t, id); got != running {
		t.Fatalf("state %q after restart, want running", got)
	}
	if n := d.rt.launches(id); n != 2 {
		t.Errorf("%d launches, want 2", n)
	}
	acts := d.actions(id)
	if got := strings.Join(acts[len(acts)-5:], ","); got != "kill,die,stop,start,restart" {
		t.Errorf("events %v", acts)
	}
	// Its own exit then removes it.
	d.exitOnItsOwn(t, id, 0)
	d.waitState(t, id, "")
}

// Between two runs of its restart policy a container is "restarting":
// pause and kill refuse it with dockerd's words, and a stop ends the
// loop without a signal.
func TestRestartingContainer(t *testing.T) {
	d := newFakeDaemon(t)
	id := d.run(t, "web", withRestart("always"))
	// Three quick failures make the next back-off 800 ms, time enough
	// to act while the container waits for it.
	for i := 2; i <= 4; i++ {
		d.exitOnItsOwn(t, id, 1)
		d.waitLaunches(t, id, i)
	}
	d.exitOnItsOwn(t, id, 1)
	d.waitState(t, id, "restarting")
	ctx := context.Background()

	err := d.ContainerPause(ctx, id)
	if want := "Container " + id + " is restarting, wait until the container is running"; statusOf(err) != 409 || err.Error() != want {
		t.Errorf("pause: %d %v, want 409 %q", statusOf(err), err, want)
	}
	err = execTrue(d, id)
	if statusOf(err) != 409 || !strings.Contains(err.Error(), "is restarting, wait until the container is running") {
		t.Errorf("exec: %d %v", statusOf(err), err)
	}
	killsBefore := len(d.rt.callsOf("kill"))
	if err := d.ContainerStop(ctx, id, "", nil); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if got := d.state(t, id); got != exited {
		t.Errorf("state %q after stop, want exited", got)
	}
	if n := len(d.rt.callsOf("kill")); n != killsBefore {
		t.Errorf("%d signals sent to a container with no process", n-killsBefore)
	}
	d.waitState(t, id, exited)
	if n := d.rt.launches(id); n != 4 {
		t.Errorf("%d launches, want 4: the stop must end the loop", n)
	}
}

// What a new daemon finds of its containers' processes: one that exited
// while it was down is recorded with the status its shim wrote, one whose
// shim vanished as killed (137), a paused one stays paused (live-restore)
// and answers unpause, and a start the previous daemon launched but did
// not record is ended before anything else.
func TestRestoreAfterCrash(t *testing.T) {
	t.Run("exited while the daemon was down", func(t *testing.T) {
		t.Parallel()
		d := newFakeDaemon(t)
		id := d.run(t, "web")
		d.crash()
		d.rt.shim(d.shimDir(id)).exitWith(7)
		d = d.restart(t)
		d.waitState(t, id, exited)
		if code, _ := d.exitCode(t, id); code != 7 {
			t.Errorf("exit code %d, want 7", code)
		}
		if acts := d.actions(id); len(acts) != 0 {
			t.Errorf("events %v for an exit before the daemon's start", acts)
		}
	})
	t.Run("shim vanished", func(t *testing.T) {
		t.Parallel()
		d := newFakeDaemon(t)
		id := d.run(t, "web")
		d.crash()
		d.rt.vanish()
		d = d.restart(t)
		d.waitState(t, id, exited)
		if code, _ := d.exitCode(t, id); code != 137 {
			t.Errorf("exit code %d, want 137", code)
		}
	})
	t.Run("paused, live-restore", func(t *testing.T) {
		t.Parallel()
		d := newFakeDaemon(t, liveRestore)
		id := d.prepare(t, "web", paused)
		d = d.restart(t, liveRestore)
		if got := d.state(t, id); got != paused {
			t.Fatalf("state %q, want paused", got)
		}
		if err := d.ContainerUnpause(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		// Its exit reaches the new daemon.
		if err := d.ContainerKill(context.Background(), id, "KILL"); err != nil {
			t.Fatal(err)
		}
		if got := d.state(t, id); got != exited {
			t.Errorf("state %q after kill, want exited", got)
		}
	})
	t.Run("start not recorded", func(t *testing.T) {
		t.Parallel()
		d := newFakeDaemon(t)
		id := d.run(t, "web")
		// The previous daemon died between the launch and the save.
		d.locked(t, id, func(c *ctr.Container) {
			c.State.SetStopped(0, false)
			if err := c.Save(); err != nil {
				t.Fatal(err)
			}
		})
		first := d.rt.shim(d.shimDir(id))
		d = d.restart(t)
		if got := first.state(); got != "stopped" {
			t.Errorf("the unrecorded start's process is %s, want it ended", got)
		}
		if _, err := os.Stat(d.shimDir(id)); !os.IsNotExist(err) {
			t.Errorf("its shim directory: %v, want it removed", err)
		}
		if err := d.ContainerStart(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if n := d.rt.launches(id); n != 2 {
			t.Errorf("%d launches, want 2", n)
		}
	})
}

// rm -f of a running container signals it once, waits for its exit and
// deletes its files; the name is free again.
func TestForceRemoveRunning(t *testing.T) {
	d := newFakeDaemon(t)
	id := d.run(t, "web")
	c, _ := d.containers.Get(id)
	root := c.Root()
	if err := d.ContainerRm(context.Background(), "web", backend.ContainerRmConfig{ForceRemove: true}); err != nil {
		t.Fatal(err)
	}
	if got := d.rt.callsOf("kill"); len(got) != 1 || !strings.HasPrefix(got[0], "kill 9 ") {
		t.Errorf("signals %q, want one SIGKILL", got)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("container directory: %v, want it removed", err)
	}
	acts := d.actions(id)
	if got := strings.Join(acts[len(acts)-2:], ","); got != "die,destroy" {
		t.Errorf("events %v, want die then destroy last", acts)
	}
	d.create(t, "web")
}

func liveRestore(cfg *config.Config) { cfg.LiveRestore = true }
