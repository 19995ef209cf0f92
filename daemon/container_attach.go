package daemon

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/container/logs"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/jsonlog"
	"github.com/berthd/berth/pkg/shim"
	"github.com/berthd/berth/pkg/stdstream"
	"github.com/berthd/berth/pkg/stringid"
)

// defaultDetachKeys is ctrl-p ctrl-q, dockerd's default.
var defaultDetachKeys = []byte{16, 17}

// pendingAttach is an attach to a container that is not running yet: it
// is connected to the shim by the next start, before the process runs.
type pendingAttach struct {
	stdin bool
	ready chan *shim.Stream
}

// connectPendingAttaches hands each waiting attach its shim stream. Called
// by start between creating and starting the process; the caller holds
// c's lock; ctx is the start's.
func (d *Daemon) connectPendingAttaches(ctx context.Context, c *ctr.Container, client shimClient) {
	l := d.liveState(c)
	l.mu.Lock()
	pending := l.pending
	l.pending = nil
	l.mu.Unlock()
	for _, p := range pending {
		s, err := client.Attach(ctx, p.stdin)
		if err != nil {
			logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("attach to shim failed")
			close(p.ready)
			continue
		}
		p.ready <- s
	}
}

// dropPendingAttaches ends attaches still waiting when c is removed.
func (d *Daemon) dropPendingAttaches(c *ctr.Container) {
	l := d.liveState(c)
	l.mu.Lock()
	pending := l.pending
	l.pending = nil
	l.mu.Unlock()
	for _, p := range pending {
		close(p.ready)
	}
}

// ContainerAttach serves a hijacked attach connection until the container
// exits, the client detaches or hangs up. begin writes the response
// headers and returns the raw connection; it is called only once the
// request is known to be valid, so errors before that are still JSON.
func (d *Daemon) ContainerAttach(ctx context.Context, ref string, o backend.ContainerAttachOptions, begin func(multiplexed bool) (io.ReadWriteCloser, error)) error {
	keys := defaultDetachKeys
	if o.DetachKeys != "" {
		var err error
		if keys, err = parseDetachKeys(o.DetachKeys); err != nil {
			return errdefs.InvalidParameter(err)
		}
	}
	return d.attach(ctx, ref, o, keys, begin)
}

// attach is ContainerAttach with the detach keys chosen (none: stdin is
// passed on as it is).
func (d *Daemon) attach(ctx context.Context, ref string, o backend.ContainerAttachOptions, keys []byte, begin func(multiplexed bool) (io.ReadWriteCloser, error)) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	if c.State.Paused {
		c.Unlock()
		return errdefs.Conflictf("container %s is paused, unpause the container before attach", c.ID)
	}
	if c.State.RemovalInProgress || c.State.Dead {
		c.Unlock()
		return errdefs.Conflictf("container %s is being removed", c.ID)
	}
	tty := c.Config.Tty
	stdinOnce := c.Config.StdinOnce
	useStdin := o.Stdin && c.Config.OpenStdin
	logPath := c.LogPath
	var stream *shim.Stream
	var pending *pendingAttach
	if o.Stream {
		if c.State.Running && !c.State.Restarting {
			stream, err = d.shimFor(c).Attach(ctx, useStdin)
			if err != nil {
				c.Unlock()
				return errdefs.System(err)
			}
		} else {
			pending = &pendingAttach{stdin: useStdin, ready: make(chan *shim.Stream, 1)}
			l := d.liveState(c)
			l.mu.Lock()
			l.pending = append(l.pending, pending)
			l.mu.Unlock()
		}
	}
	c.Unlock()

	conn, err := begin(!tty && !o.Raw)
	if err != nil {
		if stream != nil {
			stream.Close()
		}
		return err
	}
	defer conn.Close()
	d.logContainerEvent(c, events.ActionAttach, nil)

	out := &attachWriter{w: conn, tty: tty || o.Raw, stdout: o.Stdout, stderr: o.Stderr}
	if o.Logs && logPath != "" {
		logs.Read(ctx, logPath, logs.Options{Tail: -1}, func(e *jsonlog.Entry) error {
			s := byte(shim.Stdout)
			if e.Stream == "stderr" {
				s = shim.Stderr
			}
			return out.frame(s, e.Log)
		})
	}
	if !o.Stream {
		// As dockerd does: end the output and keep the connection until
		// the client hangs up, rather than closing under its feet.
		waitClientDone(conn)
		return nil
	}
	if pending != nil {
		select {
		case s, ok := <-pending.ready:
			if !ok {
				return nil
			}
			stream = s
		case <-ctx.Done():
			return nil
		}
	}
	defer stream.Close()

	// stdin: client → container, watching for the detach keys.
	detached := make(chan struct{})
	stdinDone := make(chan struct{})
	var once sync.Once
	if useStdin {
		go func() {
			defer close(stdinDone)
			err := copyStdin(stream, conn, keys)
			if errors.Is(err, errDetached) {
				d.logContainerEvent(c, events.ActionDetach, nil)
				once.Do(func() { close(detached) })
				stream.Close()
				return
			}
			if stdinOnce {
				stream.CloseStdin()
			}
		}()
	}
	// stdout/stderr: container → client, until the container's streams end.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			st, p, err := stream.Next()
			if err != nil {
				return
			}
			if st == shim.Stdout || st == shim.Stderr {
				if out.frame(st, p) != nil {
					return
				}
			}
		}
	}()
	select {
	case <-done:
	case <-detached:
	case <-ctx.Done():
		// A client that hangs up may have sent keys just before (the
		// docker CLI closes as soon as it reads its own detach keys):
		// they reach the container before the stream closes.
		if useStdin {
			select {
			case <-stdinDone:
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// waitClientDone half-closes conn, so the client reads the end of the
// output, and waits until the client has closed its side.
func waitClientDone(conn io.ReadWriteCloser) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			io.Copy(io.Discard, conn)
		}
	}
}

// attachWriter writes output frames in the connection's format: raw for
// a TTY, multiplexed otherwise; streams the client did not ask for are
// dropped.
type attachWriter struct {
	mu                  sync.Mutex
	w                   io.Writer
	tty, stdout, stderr bool
	buf                 []byte
}

func (a *attachWriter) frame(stream byte, p []byte) error {
	if (stream == shim.Stdout && !a.stdout) || (stream == shim.Stderr && !a.stderr) {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tty {
		_, err := a.w.Write(p)
		return err
	}
	a.buf = stdstream.AppendFrame(a.buf[:0], stdstream.Stream(stream), p)
	_, err := a.w.Write(a.buf)
	return err
}

var errDetached = errors.New("detached")

// copyStdin forwards the client's input and stops at the detach sequence.
// A partial match is held back until it is known not to be the sequence.
func copyStdin(dst io.Writer, src io.Reader, keys []byte) error {
	buf := make([]byte, 32<<10)
	matched := 0
	for {
		n, err := src.Read(buf)
		if n > 0 {
			var out []byte
			for _, b := range buf[:n] {
				if len(keys) > 0 && b == keys[matched] {
					matched++
					if matched == len(keys) {
						if len(out) > 0 {
							dst.Write(out)
						}
						return errDetached
					}
					continue
				}
				if matched > 0 {
					out = append(out, keys[:matched]...)
					matched = 0
				}
				out = append(out, b)
			}
			if len(out) > 0 {
				if _, werr := dst.Write(out); werr != nil {
					return werr
				}
			}
		}
		if err != nil {
			return err
		}
	}
}

// parseDetachKeys reads dockerd's detach-keys syntax: "ctrl-p,ctrl-q",
// "a,b", "ctrl-@", "DEL". As in dockerd, names are case-sensitive and
// untrimmed: "ctrl-A" is invalid.
func parseDetachKeys(s string) ([]byte, error) {
	var out []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case k == "DEL":
			out = append(out, 127)
		case strings.HasPrefix(k, "ctrl-") && len(k) == 6:
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c == '@':
				out = append(out, 0)
			case c >= '[' && c <= '_':
				// ctrl-[ ctrl-\ ctrl-] ctrl-^ ctrl-_
				out = append(out, c-'['+27)
			default:
				return nil, errors.New("Invalid detach keys (" + s + ") provided")
			}
		default:
			return nil, errors.New("Invalid detach keys (" + s + ") provided")
		}
	}
	return out, nil
}

// ContainerResize answers POST /containers/{id}/resize.
func (d *Daemon) ContainerResize(ctx context.Context, ref string, height, width int) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	running := c.State.Running
	c.Unlock()
	if !running {
		return errdefs.Conflictf("Container %s is not running", c.ID)
	}
	if err := d.shimFor(c).Resize(ctx, "", uint16(width), uint16(height)); err != nil {
		return errdefs.System(err)
	}
	d.logContainerEvent(c, events.ActionResize, map[string]string{"height": itoa(height), "width": itoa(width)})
	return nil
}
