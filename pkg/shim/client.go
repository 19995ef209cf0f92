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
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/phases"
	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/seccomp"
)

// LaunchOpts start a shim.
type LaunchOpts struct {
	// Dir is the shim's own directory (socket, log, exit status).
	Dir    string
	Config Config
	// Env is the shim's environment.
	Env []string
	// InitStarted, when set, is called (on Launch's own goroutine) with
	// the container's init PID as soon as its namespaces exist, before the
	// init has prepared its root: the caller can wire its network
	// meanwhile. It is not called when the shim drives an external runtime.
	InitStarted func(pid int)
}

// Launched describes a shim that Launch started.
type Launched struct {
	// Pid is the shim's; InitPid is the container's init process, created
	// but not started.
	Pid, InitPid int
}

// Launch starts a shim from the sealed copy of this binary and returns
// once the container is created and the socket is listening. The shim is
// our child only until we exit: it has its own session and is reaped here
// in the background.
func Launch(ctx context.Context, o LaunchOpts) (l Launched, err error) {
	if err := os.MkdirAll(o.Dir, 0o711); err != nil {
		return l, err
	}
	_ = os.Remove(filepath.Join(o.Dir, ExitFile))
	if sp := o.Config.Spec; o.Config.Seccomp == nil && o.Config.Runtime == "" && sp != nil && sp.Linux != nil && sp.Linux.Seccomp != nil && sp.Process != nil {
		// Compiled here, where the cache outlives the container; the
		// shim's init stage then only loads it.
		if o.Config.Seccomp, err = seccomp.Compile(sp.Linux.Seccomp, sp.Process.NoNewPrivileges); err != nil {
			return l, err
		}
		// The shim gets the program, not the profile it came from (the
		// runtime keeps the program for execs).
		o.Config.Spec = runtime.WithoutSeccompProfile(sp)
	}
	if !cgroups.IsV2() && o.Config.CgroupV1 == nil {
		// Read once by this process, handed to every shim.
		if hs, err := cgroups.V1Hierarchies(); err == nil {
			o.Config.CgroupV1 = hs
		}
	}
	tr := phases.From(ctx)
	tr.Mark("seccomp+cgroups")
	b, err := json.Marshal(o.Config)
	if err != nil {
		return l, err
	}
	exe, err := runtime.SealedExecutable()
	if err != nil {
		return l, err
	}
	// The next start finds a spare (spare_linux.go), made once this one
	// no longer needs the CPU.
	defer func() { go refillSpare(o.Env, exe) }()
	s, fresh := takeSpare(o.Env), false
	if s == nil {
		tr.Mark("no-spare")
	}
	for {
		if s == nil {
			// No spare waiting (the first start, or starts in quick
			// succession): start one for this container now.
			if s, err = startSpare(o.Env, exe); err != nil {
				return l, err
			}
			fresh = true
		}
		line, sawPid, err := s.run(ctx, o.Dir, b, o.InitStarted)
		s.ready.Close()
		switch {
		case ctx.Err() != nil:
			_ = s.p.Kill()
			return l, ctx.Err()
		case line == "" && !sawPid && !fresh:
			// The spare died before it took the container: the
			// hand-over failed, or it was dying as it was written to
			// and ended before a word. A shim started for it now.
			s.discard()
			s = nil
			continue
		case line == "":
			log, _ := os.ReadFile(filepath.Join(o.Dir, LogFile))
			return l, fmt.Errorf("shim died: %v: %s", err, strings.TrimSpace(string(log)))
		}
		if rest, ok := strings.CutPrefix(line, "ok"); ok {
			// "ok <init pid>": saves the caller a State call.
			init, _ := strconv.Atoi(strings.TrimSpace(rest))
			return Launched{Pid: s.p.Pid, InitPid: init}, nil
		}
		return l, readyError(line)
	}
}

// spawnShim starts the sealed copy exe as a shim process in its own
// session, working directory /, stdin, stdout and stderr /dev/null (it
// takes its container's log as stderr once it has one), the ready pipe's
// write end as fd 3, exe as fd 4 and ctl, the control pipe's read end, as
// fd 5. It returns the process, reaped in the background, and the ready
// pipe's read end.
//
// The shim runs from the sealed copy, as the stages it starts do. Its
// code pages are then shared with every other shim in small pages: from
// the binary on disk the kernel mapped them in large folios, 16 MiB of a
// 21 MiB binary per shim, and trimMemory could not take them back.
func spawnShim(env []string, exe, ctl *os.File) (*os.Process, *os.File, error) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, nil, err
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer w.Close()
	p, err := os.StartProcess("/proc/self/fd/4", []string{"berthd", "shim"}, &os.ProcAttr{
		Dir: "/", Env: env, Files: []*os.File{devnull, devnull, devnull, w, exe, ctl}, Sys: &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	go func() { _, _ = p.Wait() }()
	return p, r, nil
}

// shimEnv is what makes a process started from the sealed copy a shim
// (entry_linux.go), with the copy as fd 4 for its stages, and the
// runtime settings of every shim image (shimRuntimeEnv).
func shimEnv() []string {
	return append([]string{runtime.EnvSealedExeFd + "=4", EnvShim + "=1"}, shimRuntimeEnv...)
}

// shimRuntimeEnv sets up the Go runtime of a shim, which copies output
// and waits: one P (every P costs a cache of spans and stacks), and no
// stack buffers for profiles, which a shim never takes (a few KiB per
// thread). becomeShim unsets them, so that what a shim starts does not
// inherit them.
var shimRuntimeEnv = []string{"GOMAXPROCS=1", "GODEBUG=profstackdepth=0"}

// Client talks to one shim.
type Client struct {
	Dir string
}

// Dial returns a client for the shim in dir; the socket is opened per call,
// so a client survives neither more nor less than the shim does.
func Dial(dir string) *Client { return &Client{Dir: dir} }

func (c *Client) conn(ctx context.Context, req Request) (*unixConn, *json.Decoder, Response, error) {
	uc, err := dialUnix(ctx, filepath.Join(c.Dir, SocketFile))
	if err != nil {
		return nil, nil, Response{}, err
	}
	if err := json.NewEncoder(uc).Encode(req); err != nil {
		uc.Close()
		return nil, nil, Response{}, err
	}
	dec := json.NewDecoder(uc)
	var resp Response
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = uc.SetReadDeadline(time.Now())
		case <-done:
		}
	}()
	err = dec.Decode(&resp)
	close(done)
	if err != nil {
		uc.Close()
		if ctx.Err() != nil {
			return nil, nil, resp, ctx.Err()
		}
		return nil, nil, resp, err
	}
	if resp.Error != "" {
		uc.Close()
		return nil, nil, resp, responseError(resp)
	}
	return uc, dec, resp, nil
}

func (c *Client) call(ctx context.Context, req Request) (Response, error) {
	uc, _, resp, err := c.conn(ctx, req)
	if uc != nil {
		uc.Close()
	}
	return resp, err
}

// State asks the shim for the container's status and PIDs.
func (c *Client) State(ctx context.Context) (Response, error) {
	return c.call(ctx, Request{Op: "state"})
}

// Start starts the created container.
func (c *Client) Start(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: "start"})
	return err
}

// Kill signals init, or every process when all is set.
func (c *Client) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	_, err := c.call(ctx, Request{Op: "kill", Signal: int(sig), All: all})
	return err
}

// Pause freezes the container; Resume thaws it.
func (c *Client) Pause(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: "pause"})
	return err
}

// Resume thaws a paused container.
func (c *Client) Resume(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: "resume"})
	return err
}

// Resize sets the terminal size of the container (execID "") or an exec.
func (c *Client) Resize(ctx context.Context, execID string, width, height uint16) error {
	_, err := c.call(ctx, Request{Op: "resize", ExecID: execID, Width: width, Height: height})
	return err
}

// Wait returns the exit status once the container has exited. If the shim
// is already gone it reads the status the shim left on disk.
func (c *Client) Wait(ctx context.Context) (*Exit, error) {
	resp, err := c.call(ctx, Request{Op: "wait"})
	if err == nil && resp.Exit != nil {
		return resp.Exit, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// The shim may have exited between our dial and its answer.
	for i := 0; i < 100; i++ {
		if ex, rerr := ReadExit(c.Dir); rerr == nil {
			return ex, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err == nil {
		err = errors.New("shim answered wait without an exit status")
	}
	return nil, err
}

// ReadExit reads the exit status a shim recorded.
func ReadExit(dir string) (*Exit, error) {
	b, err := os.ReadFile(filepath.Join(dir, ExitFile))
	if err != nil {
		return nil, err
	}
	var ex Exit
	return &ex, json.Unmarshal(b, &ex)
}

// Stream is an attach or exec connection: Write sends stdin, CloseStdin
// ends it, Next reads output frames.
type Stream struct {
	conn *unixConn
	r    io.Reader
	Pid  int
}

// Write sends bytes to the process's stdin.
func (s *Stream) Write(p []byte) (int, error) { return s.conn.Write(p) }

// CloseStdin half-closes the connection: the process sees EOF.
func (s *Stream) CloseStdin() error { return s.conn.CloseWrite() }

// Next returns the next output frame (Stdout, Stderr or ExitFrame).
func (s *Stream) Next() (byte, []byte, error) { return ReadFrame(s.r) }

// Close drops the connection.
func (s *Stream) Close() error { return s.conn.Close() }

// Collect reads frames until the exit frame (exec) or EOF (attach) and
// returns stdout, stderr and, for exec, the exit code (-1 otherwise).
func (s *Stream) Collect() (stdout, stderr string, code int, err error) {
	var o, e strings.Builder
	code = -1
	for {
		st, p, err := s.Next()
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return o.String(), e.String(), code, nil
		}
		if err != nil {
			return o.String(), e.String(), code, err
		}
		switch st {
		case Stdout:
			o.Write(p)
		case Stderr:
			e.Write(p)
		case ExitFrame:
			code, _ = strconv.Atoi(string(p))
		}
	}
}

// Attach connects to the container's output and, with stdin, its input.
func (c *Client) Attach(ctx context.Context, stdin bool) (*Stream, error) {
	uc, dec, resp, err := c.conn(ctx, Request{Op: "attach", Stdin: stdin})
	if err != nil {
		return nil, err
	}
	return &Stream{conn: uc, r: afterJSON(dec, uc), Pid: resp.Pid}, nil
}

// Exec starts a process in the container; its streams and exit code come
// back on the returned Stream.
func (c *Client) Exec(ctx context.Context, id string, p specs.Process) (*Stream, error) {
	uc, dec, resp, err := c.conn(ctx, Request{Op: "exec", ExecID: id, Process: &p})
	if err != nil {
		return nil, err
	}
	return &Stream{conn: uc, r: afterJSON(dec, uc), Pid: resp.Pid}, nil
}

// Stats returns the cgroup statistics as JSON (cgroups.Stats).
func (c *Client) Stats(ctx context.Context) (json.RawMessage, error) {
	resp, err := c.call(ctx, Request{Op: "stats"})
	return resp.Stats, err
}

// Events streams the container's events (oom, then exit) to fn until the
// container exits, ctx ends, or fn returns false.
func (c *Client) Events(ctx context.Context, fn func(Event) bool) error {
	uc, dec, _, err := c.conn(ctx, Request{Op: "events"})
	if err != nil {
		return err
	}
	defer uc.Close()
	stop := context.AfterFunc(ctx, func() { _ = uc.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		var e Event
		if err := dec.Decode(&e); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
		if !fn(e) || e.Type == "exit" {
			return nil
		}
	}
}

// Update changes the container's resource limits (docker update).
func (c *Client) Update(ctx context.Context, r *specs.LinuxResources) error {
	_, err := c.call(ctx, Request{Op: "update", Resources: r})
	return err
}

// Pids lists the host PIDs of the container's processes (docker top).
func (c *Client) Pids(ctx context.Context) ([]int, error) {
	resp, err := c.call(ctx, Request{Op: "pids"})
	return resp.Pids, err
}
