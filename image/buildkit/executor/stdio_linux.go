package executor

import (
	"io"
	"os"
	"sync"

	bk "github.com/moby/buildkit/executor"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/runtime"
)

// stdio connects a step's process to BuildKit's streams: pipes, or a pty
// whose master the runtime hands back over a console socket.
type stdio struct {
	proc bk.ProcessInfo
	// child are the process's ends, closed here once it has them; nil
	// means /dev/null.
	child        [3]*os.File
	consoleChild *os.File
	// consoleParent receives the pty master.
	consoleParent *os.File
	// ours are the parent's ends, closed when the process is done.
	ours []*os.File
	// copies are the output copies; a process has ended for BuildKit
	// once its output is all written.
	copies sync.WaitGroup
	done   chan struct{}
}

func newStdio(p bk.ProcessInfo, tty bool) (s *stdio, err error) {
	s = &stdio{proc: p, done: make(chan struct{})}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if tty {
		if s.consoleParent, s.consoleChild, err = runtime.NewConsoleSocketPair(); err != nil {
			return nil, err
		}
		return s, nil
	}
	if p.Stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.child[0] = r
		s.ours = append(s.ours, w)
		go func() {
			_, _ = io.Copy(w, p.Stdin)
			// EOF of the stream is EOF of the process's stdin.
			_ = w.Close()
		}()
	}
	for i, out := range []io.Writer{p.Stdout, p.Stderr} {
		if out == nil {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.child[i+1] = w
		s.ours = append(s.ours, r)
		s.copies.Add(1)
		go func() {
			defer s.copies.Done()
			_, _ = io.Copy(out, r)
		}()
	}
	return s, nil
}

// attach runs once the process exists: our copies of its ends are
// closed, so that its exit is EOF on its output, and a terminal's
// master is received and connected.
func (s *stdio) attach() error {
	for i, f := range s.child {
		if f != nil {
			f.Close()
			s.child[i] = nil
		}
	}
	if s.consoleChild == nil {
		return nil
	}
	s.consoleChild.Close()
	s.consoleChild = nil
	master, err := runtime.RecvConsole(s.consoleParent)
	if err != nil {
		return err
	}
	s.ours = append(s.ours, master)
	var out io.Writer = io.Discard
	if s.proc.Stdout != nil {
		out = s.proc.Stdout
	}
	// Always read: a terminal nobody reads blocks its writers.
	s.copies.Add(1)
	go func() {
		defer s.copies.Done()
		// EIO once the last holder of the pty's other end is gone.
		_, _ = io.Copy(out, master)
	}()
	if in := s.proc.Stdin; in != nil {
		go func() { _, _ = io.Copy(master, in) }()
	}
	if resize := s.proc.Resize; resize != nil {
		go func() {
			for {
				select {
				case <-s.done:
					return
				case ws := <-resize:
					_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(ws.Rows), Col: uint16(ws.Cols)})
				}
			}
		}()
	}
	return nil
}

// wait returns when the process's output has been copied out.
func (s *stdio) wait() { s.copies.Wait() }

// close releases every descriptor; a stdin copy still blocked on
// BuildKit's stream ends at its next write.
func (s *stdio) close() {
	select {
	case <-s.done:
		return
	default:
		close(s.done)
	}
	for _, f := range append(s.child[:], s.consoleChild, s.consoleParent) {
		if f != nil {
			f.Close()
		}
	}
	for _, f := range s.ours {
		f.Close()
	}
}
