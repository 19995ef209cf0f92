package shim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/faultpoint"
	"github.com/berthd/berth/pkg/jsonlog"
	"github.com/berthd/berth/pkg/runtime"
)

// File names in the shim's directory.
const (
	SocketFile = "shim.sock"
	ExitFile   = "exit.json"
	LogFile    = "shim.log"
)

// readyFd is where the launcher waits for "ok <init pid>" or an error line,
// after an optional "pid <init pid>" line as soon as the init exists.
const readyFd = 3

// server is one shim image's state. Its fields are grouped by what
// guards them: set before serving, outMu, mu, idleMu, or nothing (their
// own synchronisation).
type server struct {
	// Set while the shim starts (run and create, or restore in a reborn
	// image) and only read once it serves.
	dir     string
	ready   *os.File // the launcher's pipe, until the container is created
	cfg     Config
	ctr     container
	logw    *jsonlog.Writer
	stdin   *os.File // pipe write end or pty master; nil without stdin
	console *os.File // pty master for a terminal container
	// orphans says the container shares the host's PID namespace: its
	// orphans come to the shim, a subreaper, to be reaped (reapOrphans).
	// In a PID namespace of its own, or another container's, they go
	// to that namespace's init.
	orphans bool
	// image counts this shim's rebirths: 0 for the image Launch started.
	image int
	// grown says that this image created the container, and holds more
	// than a new one would; a later image is compared with its baseline
	// anonymous memory, taken when it was born (see hasGrown).
	grown    bool
	baseline uint64
	born     time.Time

	// outputs are the container's output streams, each read by a copier
	// (pump). A copier holds outMu from its read until the bytes are
	// logged and broadcast, so that whoever holds it knows no output is
	// in flight (rebirth). The slice is filled before serving; each
	// output's f is cleared under outMu when its stream ends.
	outMu   sync.Mutex
	outputs []*output

	// mu guards the clients, the execs and the exit.
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	evsubs map[*eventSub]struct{}
	// oomSent records that an "oom" event went out; oomEvents are the
	// cgroup's notifications, which a rebirth waits to see delivered.
	oomSent   bool
	oomEvents <-chan struct{}
	execs     map[string]*os.File // exec id -> pty master, for resize
	exit      *Exit
	// active counts the connections being handled; parked are those of
	// them that only wait for the exit or take output ("wait", "events",
	// "attach"), which a rebirth hands over. exiting is set once the init
	// has exited, before it is reaped.
	active  int
	parked  map[*unixConn]string
	exiting bool
	// started is set once the container has been started; inputs
	// counts the attach clients' stdin copies under way, and execOutputs
	// the output copies of execs that outlived their request (a process
	// the exec left in the background holds its pipes). served says a
	// request came since this image began.
	started     bool
	inputs      int
	execOutputs int
	served      bool

	// idleMu guards the idle timer and the listener it interrupts.
	// idleTimer fires a second after the last request ended; it sets
	// idleDue and wakes the accept loop, which then trims or is reborn.
	idleMu    sync.Mutex
	l         *unixListener
	idleTimer *time.Timer
	idleDue   bool

	// No lock. exited is closed, under mu, once exit is set: after it
	// exit is read without the lock. delivered counts output chunks
	// handed to attached clients, so the exit path can tell a slow client
	// from a stuck pipe. copiers are the output copiers running, conns
	// the connections being handled.
	exited    chan struct{}
	delivered atomic.Int64
	copiers   sync.WaitGroup
	conns     sync.WaitGroup
}

// Main runs the shim for the container cfg in dir. It returns when the
// container's exit has been recorded and reported.
func Main(dir string, cfg Config) error {
	if len(cfg.CgroupV1) > 0 {
		cgroups.SetV1Hierarchies(cfg.CgroupV1)
	}
	ready := os.NewFile(readyFd, "ready")
	err := run(dir, cfg, ready)
	if err != nil && ready != nil {
		fmt.Fprint(ready, readyErrorLine(err))
	}
	return err
}

func run(dir string, cfg Config, ready *os.File) error {
	// Detached from the daemon's session and its signals; orphans of a
	// container without its own PID namespace come to us, not to init.
	if os.Getpid() != unix.Getpgrp() {
		_, _ = unix.Setsid()
	}
	if err := becomeSubreaper(); err != nil {
		return err
	}
	s := newServer(dir, cfg)
	s.ready = ready
	sock := filepath.Join(dir, SocketFile)
	_ = os.Remove(sock)
	l, err := listenUnix(sock)
	if err != nil {
		return err
	}
	defer l.Close()

	if s.cfg.LogPath != "" {
		if s.logw, err = jsonlog.Open(s.cfg.LogPath, s.cfg.LogMaxSize, s.cfg.LogMaxFile); err != nil {
			return err
		}
		defer s.logw.Close()
	}
	if err := s.create(); err != nil {
		return err
	}
	// Creating the container left garbage and caches behind: the first
	// idle second after the start is a rebirth.
	s.grown = true
	faultpoint.Hit("shim.create.before-ready")
	if ready != nil {
		fmt.Fprintln(ready, "ok", s.ctr.Pid())
		ready.Close()
	}
	return s.monitor(l)
}

func newServer(dir string, cfg Config) *server {
	return &server{
		dir: dir, cfg: cfg, subs: map[*subscriber]struct{}{}, evsubs: map[*eventSub]struct{}{},
		execs: map[string]*os.File{}, parked: map[*unixConn]string{}, exited: make(chan struct{}),
	}
}

// becomeSubreaper makes the container's orphans (of a container without
// its own PID namespace) and an external runtime's init our children.
func becomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("subreaper: %w", err)
	}
	return nil
}

// monitor serves l and watches the container until its exit is recorded
// and reported. It serves on its caller's goroutine, whose stack grew
// while the shim started: the idle work the accept loop does (rebirth,
// trimMemory) then grows no new stack, which in a reborn image would
// cost a span of stacks of a new size.
func (s *server) monitor(l *unixListener) error {
	s.idleMu.Lock()
	s.l = l
	s.idleMu.Unlock()
	// A SIGTERM meant for the daemon (pkill berthd matches berthd-shim
	// too, shutdown scripts signal everything) must not leave the
	// container unwatched. Ignored, not handled: handling a signal keeps
	// a thread of os/signal's blocked for the shim's life. A stage or
	// runc that the shim starts inherits the ignored SIGTERM, but the Go
	// runtime installs its own handler for it at start (it keeps an
	// inherited SIG_IGN only for SIGHUP and SIGINT), so the container's
	// process starts with the default.
	//
	// Nothing else is handled. The shim is alone in its session from its
	// start (spawnShim), so no terminal's hang-up or interrupt reaches
	// it, and a write to a client gone away fails with EPIPE (Go kills a
	// program on SIGPIPE only for stdout and stderr).
	signal.Ignore(unix.SIGTERM)
	if s.orphans {
		stopReaper := make(chan struct{})
		defer close(stopReaper)
		go reapOrphans(stopReaper)
	}
	oomCtx, stopOOM := context.WithCancel(context.Background())
	defer stopOOM()
	if cg, err := s.ctr.Cgroup(); err == nil {
		if ch, err := cgroups.OOMEvents(oomCtx, cg); err == nil {
			s.mu.Lock()
			s.oomEvents = ch
			s.mu.Unlock()
			go func() {
				for range ch {
					s.mu.Lock()
					s.oomSent = true
					s.publishLocked(Event{Type: "oom"})
					s.mu.Unlock()
				}
			}()
		}
	}

	recorded := make(chan error, 1)
	go func() { recorded <- s.recordExit(l) }()
	// Until recordExit closes the listener.
	s.serve(l)
	return <-recorded
}

// recordExit waits for the container's exit, records and reports it, and
// closes l once the connections waiting for it have their answer.
func (s *server) recordExit(l *unixListener) error {
	// The init's exit is seen without reaping it first: a rebirth in
	// progress must find it still a zombie, for its next image to reap.
	awaitExit(s.ctr.Pid())
	s.mu.Lock()
	s.exiting = true
	s.mu.Unlock()
	ws, werr := s.ctr.Wait()
	// Output written just before exit is still in the pipes: drain it, but
	// do not hang on a descendant that kept a copy of the pipe open.
	// A slow attached client slows the copiers down (output to it is
	// never dropped), so only give up once they stop making progress.
	drained := make(chan struct{})
	go func() { s.copiers.Wait(); close(drained) }()
	for waiting := true; waiting; {
		before := s.delivered.Load()
		select {
		case <-drained:
			waiting = false
		case <-time.After(2 * time.Second):
			waiting = s.delivered.Load() != before
		}
	}
	ex := &Exit{ExitedAt: time.Now().UTC()}
	if werr != nil {
		ex.Code, ex.Error = 255, werr.Error()
	} else if ws.Signaled() {
		ex.Code = 128 + int(ws.Signal())
	} else {
		ex.Code = ws.ExitStatus()
	}
	if cg, err := s.ctr.Cgroup(); err == nil {
		if n, err := cg.OOMKills(); err == nil && n > 0 {
			ex.OOMKilled = true
		}
	}
	faultpoint.Hit("shim.exit.before-delete")
	if err := s.ctr.Delete(true); err != nil {
		ex.Error = err.Error()
	}
	data, _ := json.Marshal(ex)
	if err := writeAtomic(filepath.Join(s.dir, ExitFile), data, 0o644); err != nil {
		l.Close()
		return err
	}
	s.mu.Lock()
	if ex.OOMKilled && !s.oomSent {
		// The kill raced the notification: still say it before "exit".
		s.publishLocked(Event{Type: "oom"})
	}
	// With the exit set in the same critical section, an events
	// connection either gets the "exit" line queued or sees the exit.
	s.publishLocked(Event{Type: "exit", Exit: ex})
	s.exit = ex
	close(s.exited)
	for sub := range s.subs {
		close(sub.ended)
		delete(s.subs, sub)
	}
	for sub := range s.evsubs {
		close(sub.ch)
		delete(s.evsubs, sub)
	}
	s.mu.Unlock()
	// Let the connections that were waiting read their answer.
	l.Close()
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	_ = os.Remove(filepath.Join(s.dir, SocketFile))
	return nil
}

// awaitExit returns once the process pid has exited, leaving it a zombie.
// It waits on a pidfd in the runtime's poller: a wait in a blocking
// system call would hold a thread of its own for the container's life.
func awaitExit(pid int) {
	var info unix.Siginfo
	if fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		f := os.NewFile(uintptr(fd), "pidfd")
		defer f.Close()
		if rc, err := f.SyscallConn(); err == nil {
			err = rc.Read(func(fd uintptr) bool {
				info = unix.Siginfo{}
				err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
				// A process that runs on leaves info zeroed.
				return err != nil && err != unix.EINTR || info.Signo != 0
			})
			if err == nil {
				return
			}
		}
	}
	// No pidfd (Linux before 5.4) or no poller for it.
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

func (s *server) create() error {
	spec := s.cfg.Spec
	var err error
	if spec == nil {
		if spec, err = runtime.LoadSpec(s.cfg.Bundle); err != nil {
			return err
		}
	}
	// The shim holds the container for its whole life: no state on disk.
	opts := runtime.CreateOpts{ID: s.cfg.ID, Bundle: s.cfg.Bundle, Spec: spec, NoPivot: s.cfg.NoPivot, Ephemeral: true}
	if s.ready != nil {
		// "pid <init pid>" as soon as the namespaces exist: the launcher
		// sets up the network while the init prepares its root.
		opts.Started = func(pid int) { fmt.Fprintln(s.ready, "pid", pid) }
	}
	if s.cfg.Spec != nil {
		// Only when it was compiled from the very spec used here.
		opts.Seccomp = s.cfg.Seccomp
	}
	s.orphans = true
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.PIDNamespace {
				s.orphans = false
			}
		}
	}
	rt := runtime.New(s.cfg.RuntimeRoot)
	if spec.Process.Terminal {
		parent, child, err := runtime.NewConsoleSocketPair()
		if err != nil {
			return err
		}
		defer parent.Close()
		opts.ConsoleSocket = child
		s.ctr, err = s.newContainer(rt, opts)
		child.Close()
		if err != nil {
			return err
		}
		if s.console, err = runtime.RecvConsole(parent); err == nil {
			s.console, err = pollable(s.console)
		}
		if err != nil {
			_ = s.ctr.Delete(true)
			return err
		}
		if cs := spec.Process.ConsoleSize; cs != nil {
			_ = resize(s.console, uint16(cs.Width), uint16(cs.Height))
		}
		s.stdin = s.console
		// The pty gives one stream; a dup keeps reading independent of
		// stdin writes being closed.
		out, err := dupFile(s.console)
		if err != nil {
			return err
		}
		s.pump(out, Stdout, "stdout", nil)
		return nil
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return err
	}
	opts.Stdout, opts.Stderr = outW, errW
	var inR *os.File
	if s.cfg.OpenStdin {
		if inR, s.stdin, err = os.Pipe(); err != nil {
			return err
		}
		opts.Stdin = inR
	}
	s.ctr, err = s.newContainer(rt, opts)
	outW.Close()
	errW.Close()
	if inR != nil {
		inR.Close()
	}
	if err != nil {
		outR.Close()
		errR.Close()
		return err
	}
	s.pump(outR, Stdout, "stdout", nil)
	s.pump(errR, Stderr, "stderr", nil)
	return nil
}

// newContainer creates the container with the built-in runtime or, when
// the config names one, an external OCI runtime binary.
func (s *server) newContainer(rt *runtime.Runtime, o runtime.CreateOpts) (container, error) {
	if s.cfg.Runtime == "" {
		c, err := rt.Create(context.Background(), o)
		if err != nil {
			return nil, err
		}
		return builtin{c}, nil
	}
	var consoleSock string
	var relay chan error
	if o.Spec.Process.Terminal {
		consoleSock = filepath.Join(s.dir, "console.sock")
		_ = os.Remove(consoleSock)
		l, err := listenUnix(consoleSock)
		if err != nil {
			return nil, err
		}
		defer l.Close()
		relay = relayConsole(l, o.ConsoleSocket)
	}
	root := s.cfg.RuntimeRoot
	if root == "" {
		root = filepath.Join(s.dir, "runtime")
	}
	c, err := createExternal(s.cfg.Runtime, root, s.dir, o, consoleSock)
	if err != nil {
		return nil, err
	}
	if relay != nil {
		if err := <-relay; err != nil {
			_ = c.Delete(true)
			return nil, err
		}
	}
	return c, nil
}
