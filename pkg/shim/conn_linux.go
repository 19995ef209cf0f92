package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/cgroups"
)

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
	fail := func(err error) { _ = reply(errorResponse(err)) }
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
