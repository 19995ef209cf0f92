package streaming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TermSize is a terminal resize sent by the client.
type TermSize struct{ Width, Height uint16 }

// ExitError is what Runtime.Exec returns when the command ran and exited
// non-zero; the client sees the code (NonZeroExitCode status).
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("command terminated with exit code %d", e.Code) }

// Runtime does the work behind a stream.
type Runtime interface {
	// Exec runs cmd in containerID with the given streams (nil when not
	// requested) until it exits.
	Exec(ctx context.Context, containerID string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TermSize) error
	// Attach joins containerID's main process streams until the client
	// or the process goes away.
	Attach(ctx context.Context, containerID string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TermSize) error
	// PortForward copies stream to and from port inside the sandbox's
	// network namespace until either side closes.
	PortForward(ctx context.Context, podSandboxID string, port int32, stream io.ReadWriteCloser) error
}

// Config configures a Server.
type Config struct {
	// Addr is host:port to listen on; port 0 picks a free one.
	Addr string
	// StreamIdleTimeout closes a stream with no traffic (0: 4 hours, as
	// kubelet's default).
	StreamIdleTimeout time.Duration
	// StreamCreationTimeout bounds the wait for the client's streams
	// after the upgrade (0: 30 s).
	StreamCreationTimeout time.Duration
}

// Server serves the streaming URLs.
type Server struct {
	cfg Config
	rt  Runtime
}

var errNotImplemented = errors.New("streaming: not implemented yet")

// New listens on cfg.Addr and serves rt's streams.
func New(cfg Config, rt Runtime) (*Server, error) {
	return &Server{cfg: cfg, rt: rt}, nil
}

// GetExec validates req and returns a one-time URL that runs it.
func (s *Server) GetExec(req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return nil, errNotImplemented
}

// GetAttach validates req and returns a one-time URL that attaches.
func (s *Server) GetAttach(req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return nil, errNotImplemented
}

// GetPortForward returns a one-time URL that forwards ports of the pod.
func (s *Server) GetPortForward(req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return nil, errNotImplemented
}

// Close stops the listener and ends open streams.
func (s *Server) Close() error { return nil }
