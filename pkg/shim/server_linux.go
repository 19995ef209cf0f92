package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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

	stdin   *os.File // pipe write end or pty master; nil without stdin
	console *os.File // pty master for a terminal container

	mu   sync.Mutex
	subs map[*subscriber]struct{}
	// delivered counts output chunks handed to attached clients, so the
	// exit path can tell a slow client from a stuck pipe.
	delivered atomic.Int64
	evsubs    map[chan Event]struct{}
	// oomSent records that an "oom" event went out.
	oomSent bool
	execs   map[string]*os.File // exec id -> pty master, for resize
	exit    *Exit
	exited  chan struct{}
	conns   sync.WaitGroup

	trimMu    sync.Mutex
	trimTimer *time.Timer
}

// subscriber is one attached client's output queue. ended is closed when
// the container has exited (deliver what is queued, then stop); gone when
// the client's handler returned (stop sending to it).
type subscriber struct {
	ch    chan frame
	ended chan struct{}
	gone  chan struct{}
}

type frame struct {
	stream byte
	data   []byte
}

// Main runs the shim for the container cfg in dir. It returns when the
// container's exit has been recorded and reported.
func Main(dir string, cfg Config) error {
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
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("subreaper: %w", err)
	}
	s := &server{dir: dir, cfg: cfg, ready: ready, subs: map[*subscriber]struct{}{}, evsubs: map[chan Event]struct{}{}, execs: map[string]*os.File{}, exited: make(chan struct{})}
	sock := filepath.Join(dir, SocketFile)
	_ = os.Remove(sock)
	l, err := listenUnix(sock)
	if err != nil {
		return err
	}
	defer l.Close()

	var logw *jsonlog.Writer
	if s.cfg.LogPath != "" {
		if logw, err = jsonlog.Open(s.cfg.LogPath, s.cfg.LogMaxSize, s.cfg.LogMaxFile); err != nil {
			return err
		}
		defer logw.Close()
	}
	copiers, err := s.create(logw)
	if err != nil {
		return err
	}
	go s.serve(l)
	if ready != nil {
		fmt.Fprintln(ready, "ok", s.ctr.Pid())
		ready.Close()
	}
	// Never die of the daemon's terminal going away.
	signalIgnore()
	stopReaper := make(chan struct{})
	defer close(stopReaper)
	go reapOrphans(stopReaper)
	oomCtx, stopOOM := context.WithCancel(context.Background())
	defer stopOOM()
	if cg, err := s.ctr.Cgroup(); err == nil {
		if ch, err := cgroups.OOMEvents(oomCtx, cg); err == nil {
			go func() {
				for range ch {
					s.mu.Lock()
					s.oomSent = true
					s.mu.Unlock()
					s.publish(Event{Type: "oom"})
				}
			}()
		}
	}

	st, werr := s.ctr.Wait()
	// Output written just before exit is still in the pipes: drain it, but
	// do not hang on a descendant that kept a copy of the pipe open.
	// A slow attached client slows the copiers down (output to it is
	// never dropped), so only give up once they stop making progress.
	drained := make(chan struct{})
	go func() { copiers.Wait(); close(drained) }()
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
	} else if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		ex.Code = 128 + int(ws.Signal())
	} else {
		ex.Code = st.ExitCode()
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
	if err := writeAtomic(filepath.Join(dir, ExitFile), data, 0o644); err != nil {
		return err
	}
	s.mu.Lock()
	missed := ex.OOMKilled && !s.oomSent
	s.mu.Unlock()
	if missed {
		// The kill raced the notification: still say it before "exit".
		s.publish(Event{Type: "oom"})
	}
	s.publish(Event{Type: "exit", Exit: ex})
	s.mu.Lock()
	s.exit = ex
	close(s.exited)
	for sub := range s.subs {
		close(sub.ended)
		delete(s.subs, sub)
	}
	for ch := range s.evsubs {
		close(ch)
		delete(s.evsubs, ch)
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
	_ = os.Remove(sock)
	return nil
}

func signalIgnore() {
	// SIGHUP/SIGPIPE from a vanished client must not kill the shim.
	ignore(unix.SIGHUP, unix.SIGPIPE, unix.SIGINT, unix.SIGTERM)
}

func (s *server) create(logw *jsonlog.Writer) (*sync.WaitGroup, error) {
	spec := s.cfg.Spec
	var err error
	if spec == nil {
		if spec, err = runtime.LoadSpec(s.cfg.Bundle); err != nil {
			return nil, err
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
	var wg sync.WaitGroup
	pump := func(r *os.File, stream byte, name string) {
		wg.Add(1)
		var lw *jsonlog.StreamWriter
		if logw != nil {
			lw = logw.Stream(name)
		}
		go func() {
			defer wg.Done()
			defer r.Close()
			copyOutput(r, func(p []byte) {
				if lw != nil {
					_, _ = lw.Write(p)
				}
				s.broadcast(stream, p)
			})
			if lw != nil {
				_ = lw.Flush()
			}
		}()
	}
	rt := runtime.New(s.cfg.RuntimeRoot)
	if spec.Process.Terminal {
		parent, child, err := runtime.NewConsoleSocketPair()
		if err != nil {
			return nil, err
		}
		defer parent.Close()
		opts.ConsoleSocket = child
		s.ctr, err = s.newContainer(rt, opts)
		child.Close()
		if err != nil {
			return nil, err
		}
		if s.console, err = runtime.RecvConsole(parent); err != nil {
			_ = s.ctr.Delete(true)
			return nil, err
		}
		if cs := spec.Process.ConsoleSize; cs != nil {
			_ = resize(s.console, uint16(cs.Width), uint16(cs.Height))
		}
		s.stdin = s.console
		// The pty gives one stream; a dup keeps reading independent of
		// stdin writes being closed.
		out, err := dupFile(s.console)
		if err != nil {
			return nil, err
		}
		pump(out, Stdout, "stdout")
		return &wg, nil
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	opts.Stdout, opts.Stderr = outW, errW
	var inR *os.File
	if s.cfg.OpenStdin {
		if inR, s.stdin, err = os.Pipe(); err != nil {
			return nil, err
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
		return nil, err
	}
	pump(outR, Stdout, "stdout")
	pump(errR, Stderr, "stderr")
	return &wg, nil
}

// outputBuffers are the output copiers' read buffers, held only while
// there is output to read: the shim of a quiet container holds none. (A
// buffer per stream on each copier's stack was 64 KiB of memory touched
// per shim, zeroed at start.)
var outputBuffers = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

// copyOutput hands what r delivers to fn until r ends or fails. It waits
// for data in the runtime's poller with no buffer, and reads into a
// pooled one.
func copyOutput(r *os.File, fn func([]byte)) {
	rc, err := r.SyscallConn()
	if err != nil {
		return
	}
	for {
		var buf *[]byte
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			buf = outputBuffers.Get().(*[]byte)
			n, rerr = unix.Read(int(fd), *buf)
			for rerr == unix.EINTR {
				n, rerr = unix.Read(int(fd), *buf)
			}
			if rerr == unix.EAGAIN {
				outputBuffers.Put(buf)
				buf = nil
				return false
			}
			return true
		})
		if n > 0 {
			fn((*buf)[:n])
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

func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

func resize(f *os.File, w, h uint16) error {
	return unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: w, Row: h})
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
		select {
		case sub.ch <- frame{stream, data}:
		case <-sub.gone:
		}
	}
	s.delivered.Add(1)
}

func (s *server) serve(l *unixListener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer c.Close()
			s.handle(c)
			s.scheduleTrim()
		}()
	}
}

// scheduleTrim gives back the code pages a request took (trimMemory) a
// second after the last request ended: once the start's burst (wait,
// events, inspect) or an exec is over, only what waiting touches comes
// back. Requests in a row (a stats stream, execs in a loop) keep
// pushing it back, so they do not fault their code in again each time.
func (s *server) scheduleTrim() {
	s.trimMu.Lock()
	defer s.trimMu.Unlock()
	if s.trimTimer == nil {
		s.trimTimer = time.AfterFunc(time.Second, trimMemory)
		return
	}
	s.trimTimer.Reset(time.Second)
}

func (s *server) handle(c *unixConn) {
	var req Request
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
		// Ends when the exit is recorded, or when the client hangs up.
		gone := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, c); close(gone) }()
		select {
		case <-s.exited:
			_ = reply(Response{Exit: s.exit, Status: "stopped"})
		case <-gone:
		}
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
		cg, err := s.ctr.Cgroup()
		if err == nil {
			err = cg.Set(req.Resources)
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
		s.events(c)
	case "attach":
		s.attach(c, dec, req)
	case "exec":
		s.exec(c, dec, req)
	default:
		fail(fmt.Errorf("unknown op %q", req.Op))
	}
}

func (s *server) attach(c *unixConn, dec *json.Decoder, req Request) {
	sub := &subscriber{ch: make(chan frame, 256), ended: make(chan struct{}), gone: make(chan struct{})}
	s.mu.Lock()
	if s.exit != nil {
		s.mu.Unlock()
		_ = json.NewEncoder(c).Encode(Response{Error: "container has exited"})
		return
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
		close(sub.gone)
	}()
	if err := json.NewEncoder(c).Encode(Response{Pid: s.ctr.Pid()}); err != nil {
		return
	}
	if req.Stdin && s.stdin != nil {
		go func() {
			// Bytes the decoder buffered after the request are stdin too.
			_, _ = io.Copy(s.stdin, afterJSON(dec, c))
			// Closing stdin of a terminal would hang up the pty; for
			// pipes, the client's half-close is the container's EOF.
			if s.console == nil {
				s.stdin.Close()
			}
		}()
	}
	for {
		select {
		case f := <-sub.ch:
			if err := writeFrame(c, f.stream, f.data); err != nil {
				return
			}
		case <-sub.ended:
			// The container exited: send what is still queued, then end.
			for {
				select {
				case f := <-sub.ch:
					if err := writeFrame(c, f.stream, f.data); err != nil {
						return
					}
				default:
					return
				}
			}
		}
	}
}

func (s *server) exec(c *unixConn, dec *json.Decoder, req Request) {
	enc := json.NewEncoder(c)
	if req.Process == nil || req.ExecID == "" {
		_ = enc.Encode(Response{Error: "exec needs a process and an id"})
		return
	}
	opts := runtime.ExecOpts{Process: *req.Process}
	var readers []struct {
		f      *os.File
		stream byte
	}
	var stdin *os.File
	var pty *os.File
	var closeAfter []*os.File
	if req.Process.Terminal {
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
		if cs := req.Process.ConsoleSize; cs != nil {
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
		go func(f *os.File, stream byte) {
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

func (s *server) publish(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.evsubs {
		select {
		case ch <- e:
		default:
		}
	}
}

// events streams Event lines until the container has exited.
func (s *server) events(c *unixConn) {
	ch := make(chan Event, 64)
	s.mu.Lock()
	if s.exit != nil {
		ex := s.exit
		s.mu.Unlock()
		enc := json.NewEncoder(c)
		_ = enc.Encode(Response{})
		_ = enc.Encode(Event{Type: "exit", Exit: ex})
		return
	}
	s.evsubs[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if _, ok := s.evsubs[ch]; ok {
			delete(s.evsubs, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()
	enc := json.NewEncoder(c)
	if err := enc.Encode(Response{}); err != nil {
		return
	}
	for e := range ch {
		if err := enc.Encode(e); err != nil {
			return
		}
	}
}
