package cri

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/berthd/berth/api/cri/streaming"
	"github.com/berthd/berth/pkg/nsdial"
)

// streamRuntime is what runs behind the streaming server's URLs: exec and
// attach through the engine's, like `docker exec` and `docker attach`,
// and port forwarding into the pod's network namespace.
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

// PortForward connects to port on the pod's localhost, from inside the
// sandbox's network namespace (the pause process's), and copies both
// ways until either side ends.
func (r streamRuntime) PortForward(ctx context.Context, podSandboxID string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	sb, err := r.b.ContainerInspect(ctx, podSandboxID, false)
	switch {
	case err != nil:
		return err
	case sb.Config.Labels[labelType] != typeSandbox:
		return fmt.Errorf("%s is not a pod sandbox", podSandboxID)
	case !sb.State.Running || sb.State.Pid <= 0:
		return fmt.Errorf("pod sandbox %s is not running", sb.ID)
	}
	conn, err := nsdial.Dial(ctx, fmt.Sprintf("/proc/%d/ns/net", sb.State.Pid), "tcp", net.JoinHostPort("localhost", strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside pod sandbox %s: %w", port, sb.ID, err)
	}
	defer conn.Close()
	go func() {
		io.Copy(conn, stream)
		// The client is done sending: the server may still answer.
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}()
	// The forward lasts until the server has said everything (or the
	// client went away, which fails the copy).
	answered := make(chan struct{})
	go func() {
		io.Copy(stream, conn)
		close(answered)
	}()
	select {
	case <-answered:
	case <-ctx.Done():
	}
	return nil
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
