package daemon

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/config"
)

// launches counts the launches of the container whose ID is id.
func (r *fakeRuntime) launches(id string) int { return len(r.callsOf("launch " + id)) }

// exitOnItsOwn ends the container's current process with code, as if it
// had exited by itself.
func (d *fakeDaemon) exitOnItsOwn(t *testing.T, id string, code int) {
	t.Helper()
	s := d.rt.shim(d.shimDir(id))
	if s == nil || s.state() != "running" {
		t.Fatalf("%s has no running process to end", id)
	}
	s.exitWith(code)
}

// waitLaunches waits until the container was launched n times and is
// running again.
func (d *fakeDaemon) waitLaunches(t *testing.T, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for d.rt.launches(id) < n || d.state(t, id) != running {
		if time.Now().After(deadline) {
			t.Fatalf("%d launches, state %q; want %d and running", d.rt.launches(id), d.state(t, id), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// byUser does to the container what a user did: "stop" (docker stop),
// "kill" (docker kill), "hup" (docker kill -s HUP); "" is nothing.
func (d *fakeDaemon) byUser(t *testing.T, id, action string) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch action {
	case "stop":
		err = d.ContainerStop(ctx, id, "", nil)
	case "kill":
		err = d.ContainerKill(ctx, id, "KILL")
	case "hup":
		err = d.ContainerKill(ctx, id, "HUP")
	}
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
}

func (d *fakeDaemon) restartCount(t *testing.T, id string) (n int) {
	t.Helper()
	d.locked(t, id, func(c *ctr.Container) { n = c.RestartCount })
	return n
}

// quietPeriod is how long a test watches for a restart that must not
// come: twice the first back-off.
const quietPeriod = 2 * restartBackoffMin

// The restart policy's answer to a process that exits by itself, and to
// one the user stopped, as moby's restartmanager.ShouldRestart gives it:
// always and unless-stopped restart on any exit, on-failure on a non-zero
// one while retries remain, nothing after a stop or kill by the user.
func TestRestartPolicyOnExit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		// exits are the codes of the container's successive exits;
		// after the first, each is of a restarted process.
		exits []int
		// user ends the first run with docker stop or kill instead, or
		// sends it a SIGHUP it survives ("hup").
		user     string
		restarts int
		// gone: the container was removed (--rm).
		gone bool
	}{
		{name: "no", policy: "no", exits: []int{1}},
		{name: "always after success", policy: "always", exits: []int{0}, restarts: 1},
		{name: "always after failure", policy: "always", exits: []int{2}, restarts: 1},
		{name: "unless-stopped", policy: "unless-stopped", exits: []int{0}, restarts: 1},
		{name: "on-failure after success", policy: "on-failure", exits: []int{0}},
		{name: "on-failure after failure", policy: "on-failure", exits: []int{1}, restarts: 1},
		{name: "on-failure without a limit", policy: "on-failure", exits: []int{1, 1, 1}, restarts: 3},
		{name: "on-failure:2 counts its retries", policy: "on-failure:2", exits: []int{1, 1, 1}, restarts: 2},
		{name: "on-failure:2 after a success", policy: "on-failure:2", exits: []int{1, 0}, restarts: 1},
		{name: "always after docker stop", policy: "always", user: "stop"},
		{name: "unless-stopped after docker stop", policy: "unless-stopped", user: "stop"},
		{name: "always after docker kill", policy: "always", user: "kill"},
		{name: "on-failure after docker kill", policy: "on-failure", user: "kill"},
		// A kill with a signal the process survives, not its stop
		// signal, is a manual stop too in dockerd, which only
		// unless-stopped heeds. (Without a stop signal, any kill makes
		// the next exit final, as a stop's.)
		{name: "always exits after kill -s HUP", policy: "always", user: "hup", exits: []int{1}, restarts: 1},
		{name: "unless-stopped exits after kill -s HUP", policy: "unless-stopped", user: "hup", exits: []int{1}},
		{name: "--rm removes on exit", policy: "no", exits: []int{1}, gone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newFakeDaemon(t)
			d.rt.ignore = []syscall.Signal{syscall.SIGHUP}
			tune := withRestart(tc.policy)
			if tc.gone {
				tune = autoRemove
			}
			stopSignal := func(cfg *container.Config, _ *container.HostConfig) { cfg.StopSignal = "SIGTERM" }
			id := d.run(t, "web", tune, stopSignal)
			d.byUser(t, id, tc.user)
			for i, code := range tc.exits {
				if i > tc.restarts {
					break
				}
				d.exitOnItsOwn(t, id, code)
				if i < tc.restarts {
					d.waitLaunches(t, id, i+2)
				}
			}
			if tc.gone {
				d.waitState(t, id, "")
				return
			}
			// The last exit was restarted, or the container stays down.
			want := exited
			if len(tc.exits) > 0 && tc.restarts == len(tc.exits) {
				want = running
			}
			d.waitState(t, id, want)
			time.Sleep(quietPeriod)
			if got := d.rt.launches(id); got != 1+tc.restarts {
				t.Errorf("%d launches, want %d", got, 1+tc.restarts)
			}
			if got := d.state(t, id); got != want {
				t.Errorf("state %q, want %q", got, want)
			}
			if count := d.restartCount(t, id); count != tc.restarts {
				t.Errorf("RestartCount %d, want %d", count, tc.restarts)
			}
		})
	}
}

// A start by the user gives an on-failure container its retries again:
// dockerd's start resets the restart manager and RestartCount.
func TestStartResetsRestartCount(t *testing.T) {
	d := newFakeDaemon(t)
	id := d.run(t, "web", withRestart("on-failure:1"))
	d.exitOnItsOwn(t, id, 1)
	d.waitLaunches(t, id, 2)
	d.exitOnItsOwn(t, id, 1)
	d.waitState(t, id, exited)

	if err := d.ContainerStart(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if count := d.restartCount(t, id); count != 0 {
		t.Errorf("RestartCount after docker start: %d, want 0", count)
	}
	d.exitOnItsOwn(t, id, 1)
	d.waitLaunches(t, id, 4)
}

// A container the daemon's start brought back is restarted by its policy
// when it exits, even one the user had stopped: as a start by the user,
// that start ends the manual stop.
func TestDaemonStartEndsManualStop(t *testing.T) {
	d := newFakeDaemon(t)
	id := d.run(t, "web", withRestart("always"))
	if err := d.ContainerStop(context.Background(), id, "", nil); err != nil {
		t.Fatal(err)
	}
	d = d.restart(t)
	d.waitLaunches(t, id, 2)
	d.exitOnItsOwn(t, id, 1)
	d.waitLaunches(t, id, 3)
}

// What a daemon restart starts, as moby's restore does: a container that
// was started before and whose restart policy says so for its last exit
// (ShouldRestart with the exit code and the manual-stop mark), running
// ones left to run with live-restore, killed and then judged without.
func TestRestartPolicyAtDaemonStart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		// how the container was left: "running", "stopped" (docker
		// stop), "killed" (docker kill), "exited 0" (by itself, its
		// policy not restarting it), "gave up" (failed once more than
		// its retries), "created" (never started).
		left        string
		liveRestore bool
		want        string // running or exited after the restart
		relaunched  bool
	}{
		{name: "always, stopped by the user", policy: "always", left: "stopped", want: running, relaunched: true},
		{name: "always, never started", policy: "always", left: "created", want: created},
		{name: "unless-stopped, stopped by the user", policy: "unless-stopped", left: "stopped", want: exited},
		{name: "unless-stopped, killed by the user", policy: "unless-stopped", left: "killed", want: exited},
		{name: "no, stopped by the user", policy: "no", left: "stopped", want: exited},
		{name: "on-failure, exited 0", policy: "on-failure", left: "exited 0", want: exited},
		{name: "on-failure, stopped by the user (exit 143)", policy: "on-failure", left: "stopped", want: running, relaunched: true},
		{name: "on-failure:1, retries used up", policy: "on-failure:1", left: "gave up", want: exited},
		{name: "no, running, live-restore", policy: "no", left: "running", liveRestore: true, want: running},
		{name: "always, running, live-restore", policy: "always", left: "running", liveRestore: true, want: running},
		{name: "no, running, no live-restore", policy: "no", left: "running", want: exited},
		{name: "always, running, no live-restore", policy: "always", left: "running", want: running, relaunched: true},
		{name: "unless-stopped, running, no live-restore", policy: "unless-stopped", left: "running", want: running, relaunched: true},
		{name: "on-failure, running, no live-restore (killed: 137)", policy: "on-failure", left: "running", want: running, relaunched: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			live := func(cfg *config.Config) { cfg.LiveRestore = tc.liveRestore }
			d := newFakeDaemon(t, live)
			var id string
			switch tc.left {
			case "created":
				id = d.create(t, "web", withRestart(tc.policy))
			default:
				id = d.run(t, "web", withRestart(tc.policy))
			}
			switch tc.left {
			case "stopped":
				d.byUser(t, id, "stop")
			case "killed":
				d.byUser(t, id, "kill")
			case "exited 0":
				d.exitOnItsOwn(t, id, 0)
				d.waitState(t, id, exited)
			case "gave up":
				d.exitOnItsOwn(t, id, 1)
				d.waitLaunches(t, id, 2)
				d.exitOnItsOwn(t, id, 1)
				d.waitState(t, id, exited)
			}
			launches := d.rt.launches(id)

			d = d.restart(t, live)

			d.waitState(t, id, tc.want)
			relaunched := d.rt.launches(id) > launches
			if relaunched != tc.relaunched {
				t.Errorf("relaunched: %v, want %v", relaunched, tc.relaunched)
			}
		})
	}
}
