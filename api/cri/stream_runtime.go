package cri

import (
	"context"
	"errors"
	"io"

	"github.com/berthd/berth/api/cri/streaming"
)

// streamRuntime is what runs behind the streaming server's URLs: exec and
// attach through the engine's, like `docker exec` and `docker attach`.
type streamRuntime struct{ b ContainerBackend }

// NewStreamRuntime is the streaming.Runtime over the engine b.
func NewStreamRuntime(b ContainerBackend) streaming.Runtime { return streamRuntime{b: b} }

// Exec runs cmd; a non-zero exit is a streaming.ExitError, which the
// client sees as the command's exit code.
func (r streamRuntime) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan streaming.TermSize) error {
	code, err := runExec(ctx, r.b, id, cmd, streamsOf(stdin, stdout, stderr, tty, resize))
	if err != nil {
		return err
	}
	if code != 0 {
		return streaming.ExitError{Code: code}
	}
	return nil
}

// Attach joins the main process's streams.
func (r streamRuntime) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan streaming.TermSize) error {
	return runAttach(ctx, r.b, id, streamsOf(stdin, stdout, stderr, tty, resize))
}

// PortForward is not served until the sandbox's network namespace can
// be dialed into (pkg/nsdial).
func (r streamRuntime) PortForward(ctx context.Context, podSandboxID string, port int32, stream io.ReadWriteCloser) error {
	return errors.New("port forwarding is not supported yet")
}

// streamsOf keeps nil streams nil: a typed nil WriteCloser in an
// io.Writer would not be.
func streamsOf(stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan streaming.TermSize) execStreams {
	s := execStreams{stdin: stdin, tty: tty, resize: resize}
	if stdout != nil {
		s.stdout = stdout
	}
	if stderr != nil {
		s.stderr = stderr
	}
	return s
}
