package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/cgroups"
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

type server struct {
	dir   string
	ready *os.File // the launcher's pipe, until the container is created
	cfg   Config
	ctr   container
	l     *unixListener
	logw  *jsonlog.Writer

	stdin   *os.File // pipe write end or pty master; nil without stdin
	console *os.File // pty master for a terminal container

	// outputs are the container's output streams, each read by a copier
	// (pump). A copier holds outMu from its read until the bytes are
	// logged and broadcast, so that whoever holds it knows no output is
	// in flight (rebirth).
	outputs []*output
	outMu   sync.Mutex
	copiers sync.WaitGroup

	mu   sync.Mutex
	subs map[*subscriber]struct{}
	// delivered counts output chunks handed to attached clients, so the
	// exit path can tell a slow client from a stuck pipe.
	delivered atomic.Int64
	evsubs    map[*eventSub]struct{}
	// oomSent records that an "oom" event went out; oomEvents are the
	// cgroup's notifications, which a rebirth waits to see delivered.
	oomSent   bool
	oomEvents <-chan struct{}
	execs     map[string]*os.File // exec id -> pty master, for resize
	exit      *Exit
	exited    chan struct{}
	conns     sync.WaitGroup
	// active counts the connections being handled; parked are those of
	// them that only wait for the exit or take output ("wait", "events",
	// "attach"), which a rebirth hands over. grown says that this image
	// created the container, and holds more than a new one would; a
	// later image is compared with its baseline anonymous memory, taken
	// when it was born (see hasGrown). exiting is set once the init has
	// exited, before it is reaped.
	active   int
	parked   map[*unixConn]string
	grown    bool
	baseline uint64
	born     time.Time
	exiting  bool
	// started is set once the container has been started; inputs
	// counts the attach clients' stdin copies under way, and execOutputs
	// the output copies of execs that outlived their request (a process
	// the exec left in the background holds its pipes). served says a
	// request came since this image began.
	started     bool
	inputs      int
	execOutputs int
	served      bool
	// orphans says the container shares the host's PID namespace: its
	// orphans come to the shim, a subreaper, to be reaped (reapOrphans).
	// In a PID namespace of its own, or another container's, they go
	// to that namespace's init.
	orphans bool
	// image counts this shim's rebirths: 0 for the image Launch started.
	image int

	// idleTimer fires a second after the last request ended; it sets
	// idleDue and wakes the accept loop, which then trims or is reborn.
	idleMu    sync.Mutex
	idleTimer *time.Timer
	idleDue   bool
}

// output is one of the container's output streams. f is nil once the
// stream has ended (under outMu).
type output struct {
	f      *os.File
	stream byte
	name   string
	log    *jsonlog.StreamWriter
}

// eventSub is one "events" connection. inflight counts the events queued
// on ch and not yet written: a rebirth waits for none.
type eventSub struct {
	ch       chan Event
	conn     *unixConn
	inflight int
}

// subscriber is one attached client's output queue. ended is closed when
// the container has exited (deliver what is queued, then stop); gone when
// the client's handler returned (stop sending to it).
type subscriber struct {
	ch    chan frame
	ended chan struct{}
	gone  chan struct{}
	conn  *unixConn
	// queued counts the frames handed to ch and not yet written to
	// conn: a rebirth waits for none.
	queued atomic.Int32
}

type frame struct {
	stream byte
	data   []byte
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
		fmt.Fprintf(ready, "error: %v\n", err)
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

// pump starts the copier of one output stream: to the log and to the
// attached clients. pending is the start of a line that an earlier image
// of this shim read and did not log yet.
func (s *server) pump(r *os.File, stream byte, name string, pending []byte) {
	var lw *jsonlog.StreamWriter
	if s.logw != nil {
		lw = s.logw.Stream(name)
		if len(pending) > 0 {
			lw.Resume(pending)
		}
	}
	o := &output{f: r, stream: stream, name: name, log: lw}
	s.outputs = append(s.outputs, o)
	s.copiers.Add(1)
	go func() {
		defer s.copiers.Done()
		copyOutput(r, &s.outMu, func(p []byte) {
			if lw != nil {
				_, _ = lw.Write(p)
			}
			s.broadcast(stream, p)
		})
		// The end of the stream, under outMu as a read is: a rebirth
		// then finds the line either pending or logged, and the
		// descriptor either open or gone, never half-way.
		s.outMu.Lock()
		defer s.outMu.Unlock()
		if lw != nil {
			_ = lw.Flush()
		}
		r.Close()
		o.f = nil
	}()
}

// outputBuffers are the output copiers' read buffers, held only while
// there is output to read: the shim of a quiet container holds none. (A
// buffer per stream on each copier's stack was 64 KiB of memory touched
// per shim, zeroed at start.)
var outputBuffers = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

// copyOutput hands what r delivers to fn until r ends or fails. It waits
// for data in the runtime's poller with no buffer, and reads into a
// pooled one. It holds mu from each read until fn has returned.
func copyOutput(r *os.File, mu *sync.Mutex, fn func([]byte)) {
	rc, err := r.SyscallConn()
	if err != nil {
		return
	}
	for {
		var buf *[]byte
		var n int
		var rerr error
		locked := false
		err := rc.Read(func(fd uintptr) bool {
			mu.Lock()
			locked = true
			buf = outputBuffers.Get().(*[]byte)
			n, rerr = unix.Read(int(fd), *buf)
			for rerr == unix.EINTR {
				n, rerr = unix.Read(int(fd), *buf)
			}
			if rerr == unix.EAGAIN {
				outputBuffers.Put(buf)
				buf = nil
				mu.Unlock()
				locked = false
				return false
			}
			return true
		})
		if n > 0 {
			fn((*buf)[:n])
		}
		if locked {
			mu.Unlock()
		}
		if buf != nil {
			outputBuffers.Put(buf)
		}
		// n == 0 is the end of the stream (all writers gone); EIO is
		// how a pty master reports that its slave side has closed.
		if err != nil || rerr != nil || n == 0 {
			return
		}
	}
}

// dupFile duplicates f; the copy is on the runtime's poller if f is.
// (Not through f.Fd, which would make f's descriptor blocking.)
func dupFile(f *os.File) (*os.File, error) {
	var fd int
	err := withFd(f, func(raw int) (err error) {
		fd, err = unix.FcntlInt(uintptr(raw), unix.F_DUPFD_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// pollable replaces f, a blocking descriptor such as the pty master a
// stage sends, by a non-blocking one on the runtime's poller: its readers
// then wait in the poller, not in a read(2) that a rebirth would have to
// wait out. (os.File decides this when it is made, so the file is made
// anew.)
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	// O_NONBLOCK is the open file's, which the copy shares.
	if err := withFd(f, func(fd int) error { return unix.SetNonblock(fd, true) }); err != nil {
		return nil, err
	}
	return dupFile(f)
}

func withFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func resize(f *os.File, w, h uint16) error {
	return withFd(f, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: w, Row: h})
	})
}

// broadcast hands output to every attached client. A client that cannot
// keep up slows the container's output down, as with dockerd: attached
// output is never dropped. The lock is not held while sending, so a
// client that goes away cannot wedge the others.
func (s *server) broadcast(stream byte, p []byte) {
	s.mu.Lock()
	if len(s.subs) == 0 {
		s.mu.Unlock()
		return
	}
	subs := make([]*subscriber, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	data := append([]byte(nil), p...)
	for _, sub := range subs {
		sub.queued.Add(1)
		select {
		case sub.ch <- frame{stream, data}:
		case <-sub.gone:
			sub.queued.Add(-1)
		}
	}
	s.delivered.Add(1)
}

func (s *server) serve(l *unixListener) {
	for {
		c, err := l.Accept()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.idleMu.Lock()
			due := s.idleDue
			s.idleDue = false
			_ = l.SetDeadline(time.Time{})
			s.idleMu.Unlock()
			if due {
				// Here, between two accepts, no connection is half
				// taken: one that comes now waits in the backlog for
				// whichever image of the shim accepts next.
				s.idle()
			}
			continue
		}
		if err != nil {
			return
		}
		s.mu.Lock()
		s.active++
		s.served = true
		s.mu.Unlock()
		s.serveConn(c, s.handle)
	}
}

// serveConn runs fn on c in a goroutine of its own, as one of the
// connections being handled.
func (s *server) serveConn(c *unixConn, fn func(*unixConn)) {
	s.conns.Add(1)
	go func() {
		defer s.conns.Done()
		defer c.Close()
		fn(c)
		s.mu.Lock()
		s.active--
		delete(s.parked, c)
		s.mu.Unlock()
		s.scheduleIdle()
	}()
}

// park marks c as one that only waits for the exit or takes output (kind
// "wait", "events" or "attach"), which a rebirth can hand over.
func (s *server) park(c *unixConn, kind string) {
	s.mu.Lock()
	s.parked[c] = kind
	s.mu.Unlock()
}

// idleAfter is how long after its last request the shim trims or is
// reborn. Requests in a row (a stats stream, execs in a loop) keep
// pushing it back, so they do not pay for it each time.
const idleAfter = time.Second

// scheduleIdle sets the idle timer a second ahead.
func (s *server) scheduleIdle() { s.scheduleIdleIn(idleAfter) }

// scheduleIdleIn sets the idle timer d ahead.
func (s *server) scheduleIdleIn(d time.Duration) {
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	if s.idleTimer == nil {
		s.idleTimer = time.AfterFunc(d, s.wakeIdle)
		return
	}
	s.idleTimer.Reset(d)
}

// wakeIdle makes the accept loop return to run idle: through the
// listener's deadline, as nothing else interrupts an Accept.
func (s *server) wakeIdle() {
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	s.idleDue = true
	if s.l != nil {
		_ = s.l.SetDeadline(time.Now())
	}
}

// idle runs once the requests are over. A shim whose image holds more
// than a new one would (hasGrown) is reborn (rebirth): a fresh image of
// the binary holds only what watching the container needs. When there is
// no rebirth (nothing to gain, or work under way, which is retried), the
// code pages the requests touched are given back instead (trimMemory):
// only what waiting touches comes back.
func (s *server) idle() {
	err := s.rebirth()
	var again retryIn
	switch {
	case err == nil, err == errNotIdle:
	case errors.As(err, &again):
		s.scheduleIdleIn(time.Duration(again))
	default:
		fmt.Fprintf(os.Stderr, "shim: rebirth: %v\n", err)
	}
	trimMemory()
}

// request is a Request as the shim reads it: the exec's process and the
// update's resources stay JSON until the operation that needs them.
// Decoding a struct makes encoding/json build the encoders of every type
// its fields reach, and runtime-spec's Process and LinuxResources would
// cost a reborn shim a quarter of a MiB on its first request of any kind.
type request struct {
	Op        string          `json:"op"`
	Signal    int             `json:"signal,omitempty"`
	All       bool            `json:"all,omitempty"`
	ExecID    string          `json:"execID,omitempty"`
	Width     uint16          `json:"width,omitempty"`
	Height    uint16          `json:"height,omitempty"`
	Process   json.RawMessage `json:"process,omitempty"`
	Stdin     bool            `json:"stdin,omitempty"`
	Resources json.RawMessage `json:"resources,omitempty"`
}

func (s *server) handle(c *unixConn) {
	var req request
	dec := json.NewDecoder(c)
	if err := dec.Decode(&req); err != nil {
		return
	}
	reply := func(r Response) error { return json.NewEncoder(c).Encode(r) }
	fail := func(err error) { _ = reply(Response{Error: err.Error()}) }
	switch req.Op {
	case "state":
		r := Response{Pid: s.ctr.Pid(), ShimPid: os.Getpid(), Status: s.ctr.Status()}
		s.mu.Lock()
		if s.exit != nil {
			r.Exit, r.Status = s.exit, "stopped"
		}
		s.mu.Unlock()
		_ = reply(r)
	case "start":
		if err := s.ctr.Start(); err != nil {
			fail(err)
			return
		}
		s.mu.Lock()
		s.started = true
		s.mu.Unlock()
		_ = reply(Response{Pid: s.ctr.Pid()})
	case "kill":
		sig := unix.Signal(req.Signal)
		if sig == 0 {
			sig = unix.SIGKILL
		}
		if err := s.ctr.Signal(sig, req.All); err != nil {
			fail(err)
			return
		}
		_ = reply(Response{})
	case "pause", "resume":
		var err error
		if req.Op == "pause" {
			err = s.ctr.Pause()
		} else {
			err = s.ctr.Resume()
		}
		if err != nil {
			fail(err)
			return
		}
		_ = reply(Response{})
	case "stats":
		cg, err := s.ctr.Cgroup()
		if err != nil {
			fail(err)
			return
		}
		st, err := cg.Stats()
		if err != nil {
			fail(err)
			return
		}
		b, _ := json.Marshal(st)
		_ = reply(Response{Stats: b})
	case "wait":
		s.waitExit(c)
	case "resize":
		s.mu.Lock()
		f := s.console
		if req.ExecID != "" {
			f = s.execs[req.ExecID]
		}
		s.mu.Unlock()
		if f == nil {
			fail(errors.New("no terminal to resize"))
			return
		}
		if err := resize(f, req.Width, req.Height); err != nil {
			fail(err)
			return
		}
		_ = reply(Response{})
	case "update":
		var res *specs.LinuxResources
		err := json.Unmarshal(req.Resources, &res)
		var cg cgroups.Manager
		if err == nil {
			cg, err = s.ctr.Cgroup()
		}
		if err == nil {
			err = cg.Set(res)
		}
		if err != nil {
			fail(err)
			return
		}
		_ = reply(Response{})
	case "pids":
		cg, err := s.ctr.Cgroup()
		var pids []int
		if err == nil {
			pids, err = cg.Pids()
		}
		if err != nil {
			fail(err)
			return
		}
		_ = reply(Response{Pids: pids})
	case "events":
		s.streamEvents(c, s.subscribeEvents(c), true)
	case "attach":
		s.attach(c, dec, req)
	case "exec":
		s.exec(c, dec, req)
	default:
		fail(fmt.Errorf("unknown op %q", req.Op))
	}
}

func (s *server) attach(c *unixConn, dec *json.Decoder, req request) {
	sub := &subscriber{ch: make(chan frame, 256), ended: make(chan struct{}), gone: make(chan struct{}), conn: c}
	s.mu.Lock()
	if s.exit != nil {
		s.mu.Unlock()
		_ = json.NewEncoder(c).Encode(Response{Error: "container has exited"})
		return
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	defer s.unsubscribe(sub)
	if err := json.NewEncoder(c).Encode(Response{Pid: s.ctr.Pid()}); err != nil {
		return
	}
	if req.Stdin && s.stdin != nil {
		// Until it ends, the copy may hold bytes read from the client
		// and not yet written: no rebirth meanwhile.
		s.mu.Lock()
		s.inputs++
		s.mu.Unlock()
		go func() {
			defer func() {
				s.mu.Lock()
				s.inputs--
				s.mu.Unlock()
				s.scheduleIdle()
			}()
			// Bytes the decoder buffered after the request are stdin too.
			_, _ = io.Copy(s.stdin, afterJSON(dec, c))
			// Closing stdin of a terminal would hang up the pty; for
			// pipes, the client's half-close is the container's EOF.
			if s.console == nil {
				s.stdin.Close()
			}
		}()
	}
	// From here on the connection only takes output, which a rebirth
	// can hand over (once its stdin copy, if any, has ended).
	s.park(c, "attach")
	s.forward(sub)
}

func (s *server) unsubscribe(sub *subscriber) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
	close(sub.gone)
}

// forward writes the container's output to an attached client until the
// container has exited or the client is gone.
func (s *server) forward(sub *subscriber) {
	c := sub.conn
	for {
		select {
		case f := <-sub.ch:
			err := writeFrame(c, f.stream, f.data)
			sub.queued.Add(-1)
			if err != nil {
				return
			}
		case <-sub.ended:
			// The container exited: send what is still queued, then end.
			for {
				select {
				case f := <-sub.ch:
					err := writeFrame(c, f.stream, f.data)
					sub.queued.Add(-1)
					if err != nil {
						return
					}
				default:
					return
				}
			}
		}
	}
}

func (s *server) exec(c *unixConn, dec *json.Decoder, req request) {
	enc := json.NewEncoder(c)
	var proc *specs.Process
	if len(req.Process) > 0 {
		if err := json.Unmarshal(req.Process, &proc); err != nil {
			_ = enc.Encode(Response{Error: "exec: " + err.Error()})
			return
		}
	}
	if proc == nil || req.ExecID == "" {
		_ = enc.Encode(Response{Error: "exec needs a process and an id"})
		return
	}
	opts := runtime.ExecOpts{Process: *proc}
	var readers []struct {
		f      *os.File
		stream byte
	}
	var stdin *os.File
	var pty *os.File
	var closeAfter []*os.File
	if proc.Terminal {
		parent, child, err := runtime.NewConsoleSocketPair()
		if err != nil {
			_ = enc.Encode(Response{Error: err.Error()})
			return
		}
		defer parent.Close()
		opts.ConsoleSocket = child
		closeAfter = append(closeAfter, child)
		defer func() {
			if pty != nil {
				pty.Close()
			}
		}()
		p, err := s.startExec(opts, closeAfter)
		if err != nil {
			_ = enc.Encode(Response{Error: err.Error()})
			return
		}
		if pty, err = runtime.RecvConsole(parent); err != nil {
			_ = p.Kill()
			_, _ = p.Wait()
			_ = enc.Encode(Response{Error: err.Error()})
			return
		}
		if cs := proc.ConsoleSize; cs != nil {
			_ = resize(pty, uint16(cs.Width), uint16(cs.Height))
		}
		s.mu.Lock()
		s.execs[req.ExecID] = pty
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.execs, req.ExecID)
			s.mu.Unlock()
		}()
		out, _ := dupFile(pty)
		readers = append(readers, struct {
			f      *os.File
			stream byte
		}{out, Stdout})
		stdin = pty
		s.streamExec(c, dec, enc, p, readers, stdin, false)
		return
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = enc.Encode(Response{Error: err.Error()})
		return
	}
	errR, errW, _ := os.Pipe()
	inR, inW, _ := os.Pipe()
	opts.Stdout, opts.Stderr, opts.Stdin = outW, errW, inR
	p, err := s.startExec(opts, []*os.File{outW, errW, inR})
	if err != nil {
		outR.Close()
		errR.Close()
		inW.Close()
		_ = enc.Encode(Response{Error: err.Error()})
		return
	}
	readers = append(readers, struct {
		f      *os.File
		stream byte
	}{outR, Stdout}, struct {
		f      *os.File
		stream byte
	}{errR, Stderr})
	s.streamExec(c, dec, enc, p, readers, inW, true)
}

func (s *server) startExec(opts runtime.ExecOpts, closeAfter []*os.File) (*os.Process, error) {
	p, err := s.ctr.Exec(context.Background(), opts)
	for _, f := range closeAfter {
		f.Close()
	}
	return p, err
}

func (s *server) streamExec(c *unixConn, dec *json.Decoder, enc *json.Encoder, p *os.Process, readers []struct {
	f      *os.File
	stream byte
}, stdin *os.File, closeStdin bool) {
	if err := enc.Encode(Response{Pid: p.Pid}); err != nil {
		_ = p.Kill()
	}
	var wmu sync.Mutex
	go func() {
		_, _ = io.Copy(stdin, afterJSON(dec, c))
		if closeStdin {
			stdin.Close()
		}
	}()
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Add(1)
		// A reader may outlive the request (see below): a rebirth would
		// close its pipe under a process the exec left running.
		s.mu.Lock()
		s.execOutputs++
		s.mu.Unlock()
		go func(f *os.File, stream byte) {
			defer func() {
				s.mu.Lock()
				s.execOutputs--
				s.mu.Unlock()
				s.scheduleIdle()
			}()
			defer wg.Done()
			defer f.Close()
			buf := make([]byte, 32*1024)
			for {
				n, err := f.Read(buf)
				if n > 0 {
					wmu.Lock()
					_ = writeFrame(c, stream, buf[:n])
					wmu.Unlock()
				}
				if err != nil {
					return
				}
			}
		}(r.f, r.stream)
	}
	st, err := p.Wait()
	code := 255
	if err == nil {
		code = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	wmu.Lock()
	_ = writeFrame(c, ExitFrame, []byte(strconv.Itoa(code)))
	wmu.Unlock()
	_ = c.CloseWrite()
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

// waitExit answers a "wait" connection once the exit is recorded, or
// ends when the client hangs up. The connection is parked meanwhile: a
// rebirth hands it over, and the next image waits on it.
func (s *server) waitExit(c *unixConn) {
	gone := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, c); close(gone) }()
	s.park(c, "wait")
	select {
	case <-s.exited:
		_ = json.NewEncoder(c).Encode(Response{Exit: s.exit, Status: "stopped"})
	case <-gone:
	}
}

// publishLocked queues e on every events connection; s.mu is held.
func (s *server) publishLocked(e Event) {
	for sub := range s.evsubs {
		select {
		case sub.ch <- e:
			sub.inflight++
		default:
		}
	}
}

// events streams Event lines until the container has exited. The
// answer to the request comes first, unless an earlier image of the shim
// gave it (header false).
// subscribeEvents registers c for the events to come; nil once the
// container has exited.
func (s *server) subscribeEvents(c *unixConn) *eventSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exit != nil {
		return nil
	}
	sub := &eventSub{ch: make(chan Event, 64), conn: c}
	s.evsubs[sub] = struct{}{}
	return sub
}

// streamEvents writes sub's events to c (with the answer to the request
// first, when header is set) until the exit. A nil sub: the exit is past.
func (s *server) streamEvents(c *unixConn, sub *eventSub, header bool) {
	enc := json.NewEncoder(c)
	if sub == nil {
		s.mu.Lock()
		ex := s.exit
		s.mu.Unlock()
		if header {
			_ = enc.Encode(Response{})
		}
		_ = enc.Encode(Event{Type: "exit", Exit: ex})
		return
	}
	defer func() {
		s.mu.Lock()
		if _, ok := s.evsubs[sub]; ok {
			delete(s.evsubs, sub)
			close(sub.ch)
		}
		s.mu.Unlock()
	}()
	if header {
		if err := enc.Encode(Response{}); err != nil {
			return
		}
	}
	// Only now, with the answer written, can the next image take the
	// connection over.
	s.park(c, "events")
	s.scheduleIdle()
	for e := range sub.ch {
		err := enc.Encode(e)
		s.mu.Lock()
		sub.inflight--
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}
