package streaming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// Defaults of Config, kubelet's.
const (
	DefaultAddr                  = "127.0.0.1:0"
	DefaultStreamIdleTimeout     = 4 * time.Hour
	DefaultStreamCreationTimeout = 30 * time.Second
)

// Server serves the streaming URLs.
type Server struct {
	cfg     Config
	rt      Runtime
	base    url.URL
	tokens  *tokenCache
	http    *http.Server
	serving chan struct{} // closed when Serve returns

	// ctx is the parent of every stream's context; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	// sessions are the upgraded connections, which http.Server.Close
	// does not know about once hijacked.
	mu       sync.Mutex
	sessions map[io.Closer]struct{}
	closed   bool
}

// New listens on cfg.Addr and serves rt's streams.
func New(cfg Config, rt Runtime) (*Server, error) {
	routeKlogToLogrus()
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.StreamIdleTimeout <= 0 {
		cfg.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if cfg.StreamCreationTimeout <= 0 {
		cfg.StreamCreationTimeout = DefaultStreamCreationTimeout
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:      cfg,
		rt:       rt,
		base:     url.URL{Scheme: "http", Host: l.Addr().String()},
		tokens:   newTokenCache(),
		serving:  make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
		sessions: map[io.Closer]struct{}{},
	}
	mux := http.NewServeMux()
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		mux.HandleFunc(m+" /exec/{token}", s.serveExec)
		mux.HandleFunc(m+" /attach/{token}", s.serveAttach)
		mux.HandleFunc(m+" /portforward/{token}", s.servePortForward)
	}
	s.http = &http.Server{
		Handler: mux,
		// Only the upgrade request itself is bounded: after the hijack
		// the idle timeout of the stream connection takes over.
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	logrus.WithField("address", s.Addr()).Info("CRI streaming server listening")
	go func() {
		defer close(s.serving)
		if err := s.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logrus.WithError(err).Error("CRI streaming server failed")
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.base.Host }

// GetExec validates req and returns a one-time URL that runs it.
func (s *Server) GetExec(req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if err := validateStreams(req.GetContainerId(), optionsOf(req)); err != nil {
		return nil, err
	}
	if len(req.GetCmd()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "missing required cmd")
	}
	u, err := s.url("exec", req)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ExecResponse{Url: u}, nil
}

// GetAttach validates req and returns a one-time URL that attaches.
func (s *Server) GetAttach(req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if err := validateStreams(req.GetContainerId(), optionsOf(req)); err != nil {
		return nil, err
	}
	u, err := s.url("attach", req)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.AttachResponse{Url: u}, nil
}

// GetPortForward returns a one-time URL that forwards ports of the pod.
func (s *Server) GetPortForward(req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, status.Error(codes.InvalidArgument, "missing required pod_sandbox_id")
	}
	for _, p := range req.GetPort() {
		if p < 1 || p > 65535 {
			return nil, status.Errorf(codes.InvalidArgument, "port %d out of range 1-65535", p)
		}
	}
	u, err := s.url("portforward", req)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PortForwardResponse{Url: u}, nil
}

// validateStreams refuses what kubelet refuses: tty cannot carry stderr
// apart from stdout, and a session needs at least one stream.
func validateStreams(containerID string, o streamOptions) error {
	switch {
	case containerID == "":
		return status.Error(codes.InvalidArgument, "missing required container_id")
	case o.tty && o.stderr:
		return status.Error(codes.InvalidArgument, "tty and stderr cannot both be true")
	case !o.stdin && !o.stdout && !o.stderr:
		return status.Error(codes.InvalidArgument, "one of stdin, stdout, or stderr must be set")
	}
	return nil
}

// url stores req under a fresh token and returns where to redeem it.
func (s *Server) url(kind string, req any) (string, error) {
	if s.rt == nil {
		return "", status.Error(codes.Unimplemented, "streaming is not available")
	}
	if s.isClosed() {
		return "", status.Error(codes.Unavailable, "the streaming server is closed")
	}
	token, err := s.tokens.insert(req)
	if err != nil {
		return "", err
	}
	u := s.base
	u.Path = "/" + kind + "/" + token
	return u.String(), nil
}

// redeem takes the request behind the URL's token, answering 404 when
// there is none (unknown, used or expired) or it is of another kind.
func redeem[T any](s *Server, w http.ResponseWriter, r *http.Request) (T, bool) {
	var zero T
	req, ok := s.tokens.consume(r.PathValue("token"))
	if !ok {
		http.NotFound(w, r)
		return zero, false
	}
	t, ok := req.(T)
	if !ok {
		http.NotFound(w, r)
		return zero, false
	}
	return t, true
}

// track registers an upgraded connection so Close can end it; the
// returned function forgets it. It reports false when the server is
// already closed (and closes c).
func (s *Server) track(c io.Closer) (untrack func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, false
	}
	s.sessions[c] = struct{}{}
	return func() {
		s.mu.Lock()
		delete(s.sessions, c)
		s.mu.Unlock()
	}, true
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops the listener and ends open streams.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	sessions := s.sessions
	s.sessions = nil
	s.mu.Unlock()

	s.cancel()
	err := s.http.Close()
	for c := range sessions {
		c.Close()
	}
	<-s.serving
	return err
}
