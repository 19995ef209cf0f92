package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errhttp"
	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/daemon/backend"
)

// statusOf is the HTTP status the API answers err with, by the rule of
// api/server/httputils.StatusFor (the outermost classified error); 0 is
// success.
func statusOf(err error) int {
	if err == nil {
		return 0
	}
	return errhttp.ToHTTP(cerrdefs.Resolve(err))
}

// The state a test container is put in before the operation under test.
const (
	created = "created"
	running = "running"
	exited  = "exited"
	paused  = "paused"
)

// prepare makes a container called name in state.
func (d *fakeDaemon) prepare(t *testing.T, name, state string, tune ...func(*container.Config, *container.HostConfig)) string {
	t.Helper()
	ctx := context.Background()
	if state == created {
		return d.create(t, name, tune...)
	}
	id := d.run(t, name, tune...)
	switch state {
	case exited:
		if err := d.ContainerStop(ctx, id, "", nil); err != nil {
			t.Fatal(err)
		}
	case paused:
		if err := d.ContainerPause(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := d.state(t, id); got != state {
		t.Fatalf("prepared %s is %q, want %q", name, got, state)
	}
	return id
}

func stopWithin(seconds int) func(d *fakeDaemon, ref string) error {
	return func(d *fakeDaemon, ref string) error {
		return d.ContainerStop(context.Background(), ref, "", &seconds)
	}
}

func rm(force bool) func(d *fakeDaemon, ref string) error {
	return func(d *fakeDaemon, ref string) error {
		return d.ContainerRm(context.Background(), ref, backend.ContainerRmConfig{ForceRemove: force})
	}
}

func kill(sig string) func(d *fakeDaemon, ref string) error {
	return func(d *fakeDaemon, ref string) error { return d.ContainerKill(context.Background(), ref, sig) }
}

func rename(to string) func(d *fakeDaemon, ref string) error {
	return func(d *fakeDaemon, ref string) error { return d.ContainerRename(ref, to) }
}

func start(d *fakeDaemon, ref string) error   { return d.ContainerStart(context.Background(), ref) }
func pause(d *fakeDaemon, ref string) error   { return d.ContainerPause(context.Background(), ref) }
func unpause(d *fakeDaemon, ref string) error { return d.ContainerUnpause(context.Background(), ref) }

func execTrue(d *fakeDaemon, ref string) error {
	_, err := d.ContainerExecCreate(context.Background(), ref, container.ExecCreateRequest{Cmd: []string{"true"}})
	return err
}

func attachStream(d *fakeDaemon, ref string) error {
	return d.ContainerAttach(context.Background(), ref, backend.ContainerAttachOptions{Stream: true, Stdout: true},
		func(bool) (io.ReadWriteCloser, error) { return nil, errors.New("test: no connection") })
}

func setRestartPolicy(name container.RestartPolicyMode) func(d *fakeDaemon, ref string) error {
	return func(d *fakeDaemon, ref string) error {
		_, err := d.ContainerUpdate(context.Background(), ref, container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: name}})
		return err
	}
}

func autoRemove(_ *container.Config, hc *container.HostConfig) { hc.AutoRemove = true }

// ignoreTERM makes the container's process one that does not handle
// SIGTERM, as a shell or sleep as PID 1.
func ignoreTERM(d *fakeDaemon) { d.rt.ignore = []syscall.Signal{syscall.SIGTERM} }

// The daemon's answers to operations on a container in each state, with
// dockerd's status codes and messages (moby's daemon/ package: start.go,
// stop.go, delete.go, pause.go, unpause.go, kill.go, rename.go,
// attach.go, exec.go, errors.go, container/container_unix.go). {id} and
// {name} in msg are the container's; a msg starting with "~" need only be
// contained in the error.
func TestContainerStateRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state string
		tune  func(*container.Config, *container.HostConfig)
		fake  func(*fakeDaemon)
		op    func(d *fakeDaemon, ref string) error
		// status is the HTTP status; 0 is success.
		status int
		msg    string
		// after is the container's state after the operation, once its
		// exit is recorded ("" once removed); calls are the shim operations it made, in order
		// (launch, start, kill N, pause, resume, attach, exec).
		after string
		calls []string
	}{
		// start.go: a running container is not modified (304, no body
		// on the wire; moby's text is "container is already running").
		{name: "start running", state: running, op: start, status: 304, msg: "container already started", after: running},
		{name: "start paused", state: paused, op: start, status: 409, msg: "cannot start a paused container, try unpause instead", after: paused},
		{name: "start created", state: created, op: start, after: running, calls: []string{"launch", "start"}},
		{name: "start exited", state: exited, op: start, after: running, calls: []string{"launch", "start"}},

		// stop.go: 304 for a stopped container.
		{name: "stop exited", state: exited, op: stopWithin(10), status: 304, msg: "container already stopped", after: exited},
		{name: "stop created", state: created, op: stopWithin(10), status: 304, msg: "container already stopped", after: created},
		{name: "stop running", state: running, op: stopWithin(10), after: exited, calls: []string{"kill 15"}},
		{name: "stop running that ignores SIGTERM", state: running, fake: ignoreTERM, op: stopWithin(0), after: exited, calls: []string{"kill 15", "kill 9"}},
		{name: "stop paused", state: paused, op: stopWithin(0), after: exited, calls: []string{"kill 15", "kill 9", "resume"}},

		// delete.go: 409 without force for a running or paused one.
		// Current moby quotes the name as the client gave it ("web",
		// berth its record's "/web"); dockerd 20.10's other words are
		// a known gap (integration's TestRemoveRunningMessage).
		{name: "rm running", state: running, op: rm(false), status: 409,
			msg: `cannot remove container "/{name}": container is running: stop the container before removing or force remove`, after: running},
		{name: "rm paused", state: paused, op: rm(false), status: 409,
			msg: `~cannot remove container "/{name}": container is paused`, after: paused},
		{name: "rm -f running", state: running, op: rm(true), after: "", calls: []string{"kill 9"}},
		{name: "rm -f paused", state: paused, op: rm(true), after: "", calls: []string{"kill 9", "resume"}},
		{name: "rm exited", state: exited, op: rm(false), after: ""},
		{name: "rm created", state: created, op: rm(false), after: ""},

		// pause.go, unpause.go (dockerd 20.10 capitalises "Container").
		{name: "pause exited", state: exited, op: pause, status: 409, msg: "Container {id} is not running", after: exited},
		{name: "pause paused", state: paused, op: pause, status: 409, msg: "Container {id} is already paused", after: paused},
		{name: "pause running", state: running, op: pause, after: paused, calls: []string{"pause"}},
		{name: "unpause running", state: running, op: unpause, status: 409, msg: "Container {id} is not paused", after: running},
		{name: "unpause exited", state: exited, op: unpause, status: 409, msg: "Container {id} is not paused", after: exited},
		{name: "unpause paused", state: paused, op: unpause, after: running, calls: []string{"resume"}},

		// kill.go and the router: a bad signal is the client's error.
		{name: "kill with a bad signal", state: running, op: kill("SIGFOO"), status: 400, msg: "Invalid signal: SIGFOO", after: running},
		{name: "kill with signal 0", state: running, op: kill("0"), status: 400, msg: "Invalid signal: 0", after: running},
		{name: "kill exited", state: exited, op: kill(""), status: 409, msg: "cannot kill container: {name}: container {id} is not running", after: exited},
		{name: "kill running", state: running, op: kill(""), after: exited, calls: []string{"kill 9"}},
		{name: "kill running with its stop signal", state: running, op: kill("TERM"), after: exited, calls: []string{"kill 15"}},
		{name: "kill paused", state: paused, op: kill("KILL"), after: exited, calls: []string{"kill 9", "resume"}},

		// rename.go and the name store.
		{name: "rename to the same name", state: running, op: rename("web"), status: 400, msg: "Renaming a container with the same name as its current name", after: running},
		{name: "rename to a name in use", state: running, op: rename("other"), status: 409,
			msg: `Conflict. The container name "/other" is already in use by container "{other}". You have to remove (or rename) that container to be able to reuse that name.`, after: running},
		{name: "rename to an invalid name", state: exited, op: rename("no/slash"), status: 400,
			msg: "Invalid container name (no/slash), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", after: exited},
		{name: "rename to nothing", state: exited, op: rename(""), status: 400, msg: "Neither old nor new names may be empty", after: exited},
		{name: "rename running", state: running, op: rename("fresh"), after: running},

		// attach.go, exec.go. dockerd names the container as the
		// client did in these two (a known gap, integration's
		// TestExecPausedMessage); berth names its ID.
		{name: "attach paused", state: paused, op: attachStream, status: 409, msg: "~is paused, unpause the container before attach", after: paused},
		{name: "exec paused", state: paused, op: execTrue, status: 409, msg: "~is paused, unpause the container before exec", after: paused},
		{name: "exec exited", state: exited, op: execTrue, status: 409, msg: "container {id} is not running", after: exited},
		{name: "exec created", state: created, op: execTrue, status: 409, msg: "container {id} is not running", after: created},

		// container_unix.go: --rm and a restart policy exclude each
		// other, also in an update of a running container.
		{name: "update --rm running to always", state: running, tune: autoRemove, op: setRestartPolicy("always"), status: 409,
			msg: "Restart policy cannot be updated because AutoRemove is enabled for the container", after: running},
		{name: "update --rm running to no", state: created, tune: autoRemove, op: setRestartPolicy("no"), after: created},
		{name: "update exited to unless-stopped", state: exited, op: setRestartPolicy("unless-stopped"), after: exited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newFakeDaemon(t)
			if tc.fake != nil {
				tc.fake(d)
			}
			var tunes []func(*container.Config, *container.HostConfig)
			if tc.tune != nil {
				tunes = append(tunes, tc.tune)
			}
			id := d.prepare(t, "web", tc.state, tunes...)
			other := d.create(t, "other")
			before := len(d.rt.callsOf(""))

			err := tc.op(d, "web")

			if got := statusOf(err); got != tc.status {
				t.Errorf("status %d (%v), want %d", got, err, tc.status)
			}
			want := strings.NewReplacer("{id}", id, "{name}", "web", "{other}", other).Replace(tc.msg)
			switch {
			case err == nil && want != "":
				t.Errorf("no error, want %q", want)
			case err == nil:
			case strings.HasPrefix(want, "~"):
				if !strings.Contains(err.Error(), want[1:]) {
					t.Errorf("error %q, want it to contain %q", err, want[1:])
				}
			case err.Error() != want:
				t.Errorf("error %q, want %q", err, want)
			}
			// A kill other than SIGKILL answers before the exit.
			d.waitState(t, id, tc.after)
			if got := shimOps(d.rt.callsOf("")[before:]); strings.Join(got, ",") != strings.Join(tc.calls, ",") {
				t.Errorf("shim calls %q, want %q", got, tc.calls)
			}
		})
	}
}

// shimOps are the operations among calls that act on a container
// (launch, start, kill, pause, resume, attach, exec), without their
// argument; the queries (state, wait), mounts and resizes are left out.
func shimOps(calls []string) []string {
	var out []string
	for _, c := range calls {
		op, arg, _ := strings.Cut(c, " ")
		switch op {
		case "launch", "start", "pause", "resume", "attach", "exec":
			out = append(out, op)
		case "kill":
			sig, _, _ := strings.Cut(arg, " ")
			out = append(out, "kill "+sig)
		}
	}
	return out
}

// A container that joins another's namespaces (--network, --pid, --ipc
// container:X) starts only while X runs: moby's getNetworkedContainer
// (409) and createSpec (500, any spec error being the daemon's). Its
// process gets X's namespace paths.
func TestStartJoiningAnotherContainer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   func(hc *container.HostConfig)
		target string // the state of the container joined
		status int
		msg    string // contained in the error
		ns     string // the namespace file the started process joins
	}{
		// moby names the target and says its state ("is created");
		// berth gives its ID and "is exited" either way.
		{name: "network of an exited container", mode: func(hc *container.HostConfig) { hc.NetworkMode = "container:web" }, target: exited,
			status: 409, msg: "cannot join network namespace of a non running container: container "},
		{name: "network of a created container", mode: func(hc *container.HostConfig) { hc.NetworkMode = "container:web" }, target: created,
			status: 409, msg: "cannot join network namespace of a non running container: container "},
		{name: "pid of an exited container", mode: func(hc *container.HostConfig) { hc.PidMode = "container:web" }, target: exited,
			status: 500, msg: "failed to join PID namespace: container {id} is not running"},
		{name: "ipc of an exited container", mode: func(hc *container.HostConfig) { hc.IpcMode = "container:web" }, target: exited,
			status: 500, msg: "failed to join IPC namespace: container {id} is not running"},
		{name: "network of a running container", mode: func(hc *container.HostConfig) { hc.NetworkMode = "container:web" }, target: running, ns: "net"},
		{name: "pid of a running container", mode: func(hc *container.HostConfig) { hc.PidMode = "container:web" }, target: running, ns: "pid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newFakeDaemon(t)
			d.prepare(t, "web", tc.target)
			web, _ := d.containers.Get("web")
			joiner := d.create(t, "joiner", func(_ *container.Config, hc *container.HostConfig) { tc.mode(hc) })
			err := d.ContainerStart(context.Background(), joiner)
			want := strings.ReplaceAll(tc.msg, "{id}", web.ID)
			if got := statusOf(err); got != tc.status || (err != nil && !strings.Contains(err.Error(), want)) {
				t.Fatalf("start: %d %v, want %d with %q", got, err, tc.status, want)
			}
			if tc.ns == "" {
				if got := d.state(t, joiner); got != created {
					t.Errorf("joiner is %q, want created", got)
				}
				return
			}
			s := d.rt.shim(d.shimDir(joiner))
			web.Lock()
			path := fmt.Sprintf("/proc/%d/ns/%s", web.State.Pid, tc.ns)
			web.Unlock()
			if s == nil || !slices.Contains(s.namespaces, path) {
				t.Errorf("joiner's namespaces %v, want %s", s.namespaces, path)
			}
		})
	}
}
