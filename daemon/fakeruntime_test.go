package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/pkg/shim"
)

// fakeRuntime is a containerRuntime that starts no process and mounts
// nothing. A launch gives the container a made-up init PID (above the
// host's pid_max, so no signal or /proc read can reach a real process);
// its shim client simulates the process's life: start → running, a
// signal it does not ignore → exit with 128+signal, pause and resume, an
// exit of its own (exitWith). Every call is recorded, by shim directory.
//
// Its shims outlive a daemon, as real ones do: a second daemon on the
// same roots, given the same fakeRuntime, finds them again.
type fakeRuntime struct {
	mu      sync.Mutex
	nextPid int
	shims   map[string]*fakeShim // by shim directory
	calls   []string
	// launchErr, when set, fails every launch with it (set it under mu
	// once a daemon runs: setLaunchErr).
	launchErr error
	// ignore are the signals the next launched processes ignore, as an
	// init without a handler ignores SIGTERM.
	ignore []syscall.Signal
	// epoch is closed when the daemon holding the current clients
	// crashes (cutOff): their waits never return, as a dead daemon's
	// would not.
	epoch chan struct{}
}

// fakePidBase is above PID_MAX_LIMIT (4194304 on 64-bit kernels), the
// highest pid_max can be: no process can have a fake PID, and kill(2) or
// a read of /proc for one finds nothing.
const fakePidBase = 1<<22 + 1000

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{nextPid: fakePidBase, shims: map[string]*fakeShim{}, epoch: make(chan struct{})}
}

// cutOff simulates the crash of the daemon using r: the shims go on, and
// the clients handed out so far hear from them no more (a monitor still
// waiting must not record an exit the next daemon is to find).
func (r *fakeRuntime) cutOff() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.epoch)
	r.epoch = make(chan struct{})
}

func (r *fakeRuntime) setLaunchErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.launchErr = err
}

func (r *fakeRuntime) record(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, a...))
}

// callsOf returns the recorded calls that start with prefix.
func (r *fakeRuntime) callsOf(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func (r *fakeRuntime) mountRoot(root image.RootFS, target, upper, work string, here bool) error {
	r.record("mount %s", target)
	return nil
}

func (r *fakeRuntime) launch(ctx context.Context, o shim.LaunchOpts) (shim.Launched, error) {
	r.record("launch %s", o.Config.ID)
	r.mu.Lock()
	failure := r.launchErr
	r.mu.Unlock()
	if failure != nil {
		return shim.Launched{}, failure
	}
	if err := os.MkdirAll(o.Dir, 0o711); err != nil {
		return shim.Launched{}, err
	}
	r.mu.Lock()
	r.nextPid++
	s := &fakeShim{rt: r, dir: o.Dir, id: o.Config.ID, pid: r.nextPid, status: "created",
		ignore: slices.Clone(r.ignore), exited: make(chan struct{}), namespaces: joinedNamespaces(o.Config.Spec)}
	r.shims[o.Dir] = s
	r.mu.Unlock()
	if o.InitStarted != nil {
		o.InitStarted(s.pid)
	}
	return shim.Launched{Pid: s.pid - 1, InitPid: s.pid}, nil
}

func (r *fakeRuntime) dial(dir string) shimClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fakeDial{rt: r, dir: dir, epoch: r.epoch}
}

// shim returns the live shim in dir, or nil: a dial before any launch, or
// after the shim was ended, reaches no socket.
func (r *fakeRuntime) shim(dir string) *fakeShim {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.shims[dir]
}

// vanish ends every shim without an exit status, as a reboot or a kill
// of the shims would: the next daemon finds no socket.
func (r *fakeRuntime) vanish() {
	r.mu.Lock()
	shims := r.shims
	r.shims = map[string]*fakeShim{}
	r.mu.Unlock()
	for _, s := range shims {
		s.end(137, false)
	}
}

// joinedNamespaces are the namespace files a spec's process joins.
func joinedNamespaces(spec *specs.Spec) []string {
	var out []string
	if spec != nil && spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Path != "" {
				out = append(out, ns.Path)
			}
		}
	}
	return out
}

// fakeShim is one simulated container process.
type fakeShim struct {
	rt  *fakeRuntime
	dir string
	id  string
	pid int
	// namespaces are the ones its process joined (joinedNamespaces).
	namespaces []string
	// execs are the processes asked of it (docker exec, health probes),
	// none of which runs.
	execs []specs.Process

	mu     sync.Mutex
	status string // created, running, paused, stopped
	ignore []syscall.Signal
	exit   *shim.Exit
	exited chan struct{}
}

// exitWith ends the process with code as if it had exited by itself,
// and records the status where the real shim does.
func (s *fakeShim) exitWith(code int) { s.end(code, true) }

// oomKill ends the process as the kernel's OOM killer does, with the
// status the real shim reports then.
func (s *fakeShim) oomKill() { s.finish(shim.Exit{Code: 137, OOMKilled: true}, true) }

func (s *fakeShim) end(code int, writeStatus bool) { s.finish(shim.Exit{Code: code}, writeStatus) }

func (s *fakeShim) finish(ex shim.Exit, writeStatus bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == "stopped" {
		return
	}
	s.status = "stopped"
	ex.ExitedAt = time.Now()
	s.exit = &ex
	if writeStatus {
		if b, err := json.Marshal(s.exit); err == nil {
			os.WriteFile(filepath.Join(s.dir, shim.ExitFile), b, 0o600)
		}
	}
	close(s.exited)
}

func (s *fakeShim) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// errNoShim is what dialing a shim that is not there gives.
var errNoShim = errors.New("dial unix shim.sock: connect: no such file or directory")

// fakeDial is the client the daemon holds for a shim directory: like
// shim.Client it reaches whatever shim serves the directory at each call.
type fakeDial struct {
	rt    *fakeRuntime
	dir   string
	epoch chan struct{}
}

func (c fakeDial) get(op string) (*fakeShim, error) {
	c.rt.record("%s %s", op, filepath.Base(c.dir))
	if s := c.rt.shim(c.dir); s != nil {
		return s, nil
	}
	return nil, errNoShim
}

func (c fakeDial) State(ctx context.Context) (shim.Response, error) {
	if err := ctx.Err(); err != nil {
		return shim.Response{}, err // as shim.Client: no answer is read
	}
	s, err := c.get("state")
	if err != nil {
		return shim.Response{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := shim.Response{Status: s.status, Pid: s.pid, ShimPid: s.pid - 1, Exit: s.exit}
	if s.status == "stopped" {
		resp.Pid = 0
	}
	return resp, nil
}

func (c fakeDial) Start(ctx context.Context) error {
	s, err := c.get("start")
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != "created" {
		return fmt.Errorf("container is %s, not created", s.status)
	}
	s.status = "running"
	return nil
}

func (c fakeDial) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	s, err := c.get(fmt.Sprintf("kill %d", sig))
	if err != nil {
		return err
	}
	s.mu.Lock()
	status, ignored := s.status, slices.Contains(s.ignore, sig)
	s.mu.Unlock()
	switch {
	case status == "stopped":
		return errors.New("process already finished")
	case sig == syscall.SIGKILL || (!ignored && status != "paused"):
		// A frozen process acts on nothing but SIGKILL.
		s.end(128+int(sig), true)
	}
	return nil
}

func (c fakeDial) Pause(ctx context.Context) error {
	return c.setStatus("pause", "running", "paused")
}

func (c fakeDial) Resume(ctx context.Context) error {
	return c.setStatus("resume", "paused", "running")
}

func (c fakeDial) setStatus(op, from, to string) error {
	s, err := c.get(op)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != from {
		return fmt.Errorf("container is %s, not %s", s.status, from)
	}
	s.status = to
	return nil
}

func (c fakeDial) Resize(ctx context.Context, execID string, width, height uint16) error {
	_, err := c.get("resize")
	return err
}

func (c fakeDial) Wait(ctx context.Context) (*shim.Exit, error) {
	s, err := c.get("wait")
	if err != nil {
		return nil, err
	}
	select {
	case <-c.epoch:
	case <-s.exited:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// A crash first: select picks at random among ready cases, and a
	// dead daemon's monitor must not record an exit after it.
	select {
	case <-c.epoch:
		<-ctx.Done()
		return nil, ctx.Err()
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exit, nil
}

// Attach and Exec have no stream to give (a shim.Stream is a socket):
// they fail, Exec after it recorded the process the daemon built.
func (c fakeDial) Attach(ctx context.Context, stdin bool) (*shim.Stream, error) {
	c.get("attach")
	return nil, errors.New("fake runtime: no attach streams")
}

func (c fakeDial) Exec(ctx context.Context, id string, p specs.Process) (*shim.Stream, error) {
	if s, err := c.get("exec"); err == nil {
		s.mu.Lock()
		s.execs = append(s.execs, p)
		s.mu.Unlock()
	}
	return nil, errors.New("fake runtime: no exec streams")
}
