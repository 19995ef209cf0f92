package cri

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/api/cri/streaming"
	"github.com/berthd/berth/daemon/backend"
)

// errExecTimeout is an exec that ran past its timeout and was killed.
var errExecTimeout = errors.New("timeout exceeded: context deadline exceeded")

// execStreams are the client's ends of an exec or attach: nil for a
// stream not asked for.
type execStreams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	tty            bool
	resize         <-chan streaming.TermSize
}

// runExec runs cmd in the container through the engine's exec, copying
// the streams, until it exits; a ctx that ends first kills the process.
// It answers the exit code.
func runExec(ctx context.Context, b ContainerBackend, id string, cmd []string, s execStreams) (int, error) {
	execID, err := b.PodExecCreate(ctx, id, container.ExecCreateRequest{
		Cmd: cmd, Tty: s.tty,
		AttachStdin: s.stdin != nil, AttachStdout: s.stdout != nil, AttachStderr: s.stderr != nil,
	})
	if err != nil {
		return 0, err
	}
	conn := newStreamConn(s)
	done := make(chan error, 1)
	go func() {
		done <- b.ContainerExecStart(context.WithoutCancel(ctx), execID, container.ExecStartRequest{Tty: s.tty}, conn.begin)
	}()
	stopResize := forwardResize(s.resize, func(sz streaming.TermSize) {
		b.ContainerExecResize(ctx, execID, int(sz.Height), int(sz.Width))
	})
	defer stopResize()
	select {
	case err = <-done:
	case <-ctx.Done():
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		b.ContainerExecKill(kctx, execID)
		cancel()
		<-done
		conn.Close()
		conn.wait()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, errExecTimeout
		}
		return 0, ctx.Err()
	}
	conn.Close()
	conn.wait()
	if err != nil {
		return 0, err
	}
	in, err := b.ContainerExecInspect(execID)
	if err != nil {
		return 0, err
	}
	if in.ExitCode == nil {
		return 0, errors.New("exec ended without an exit code")
	}
	return *in.ExitCode, nil
}

// runAttach joins the container's main process streams until the
// process or the client ends.
func runAttach(ctx context.Context, b ContainerBackend, id string, s execStreams) error {
	conn := newStreamConn(s)
	stopResize := forwardResize(s.resize, func(sz streaming.TermSize) {
		b.ContainerResize(ctx, id, int(sz.Height), int(sz.Width))
	})
	defer stopResize()
	o := backend.ContainerAttachOptions{Stream: true, Stdin: s.stdin != nil, Stdout: s.stdout != nil, Stderr: s.stderr != nil}
	err := b.PodContainerAttach(ctx, id, o, conn.begin)
	conn.Close()
	conn.wait()
	return err
}

// forwardResize hands each resize to apply until the returned stop.
func forwardResize(ch <-chan streaming.TermSize, apply func(streaming.TermSize)) (stop func()) {
	if ch == nil {
		return func() {}
	}
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case sz, ok := <-ch:
				if !ok {
					return
				}
				apply(sz)
			case <-quit:
				return
			}
		}
	}()
	return func() { close(quit) }
}

// streamConn is the engine's side of a hijacked exec or attach
// connection, joined to the client's streams: framed output is split
// into stdout and stderr; Read gives stdin, or waits for Close.
type streamConn struct {
	s      execStreams
	out    io.Writer // where Write goes: the demux pipe, or stdout raw
	pw     *io.PipeWriter
	demux  chan struct{} // closed when the demux has copied everything
	closed chan struct{}
	once   sync.Once
}

func newStreamConn(s execStreams) *streamConn {
	return &streamConn{s: s, closed: make(chan struct{})}
}

// begin is the engine's hijack: multiplexed output is in stdcopy frames.
func (c *streamConn) begin(multiplexed bool) (io.ReadWriteCloser, error) {
	if !multiplexed {
		c.out = orDiscard(c.s.stdout)
		return c, nil
	}
	pr, pw := io.Pipe()
	c.pw, c.out, c.demux = pw, pw, make(chan struct{})
	go func() {
		defer close(c.demux)
		stdcopy.StdCopy(orDiscard(c.s.stdout), orDiscard(c.s.stderr), pr)
		io.Copy(io.Discard, pr)
	}()
	return c, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func (c *streamConn) Read(p []byte) (int, error) {
	if c.s.stdin != nil {
		return c.s.stdin.Read(p)
	}
	<-c.closed
	return 0, io.EOF
}

func (c *streamConn) Write(p []byte) (int, error) { return c.out.Write(p) }

func (c *streamConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		if c.pw != nil {
			c.pw.Close()
		}
	})
	return nil
}

// wait returns once the output is copied to the client's streams.
func (c *streamConn) wait() {
	if c.demux != nil {
		<-c.demux
	}
}
