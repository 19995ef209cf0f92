package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server/authz"
	"github.com/berthd/berth/api/server/httputils"
)

// Config is what the server needs to know about the daemon it fronts.
type Config struct {
	ServerVersion string
	// Experimental reports the live setting for the Docker-Experimental
	// header; it can change on reload.
	Experimental func() bool
	// MinAPIVersion is the oldest API version clients may ask for (the
	// daemon's min-api-version); nil is backend.MinAPIVersion.
	MinAPIVersion func() string
	// Authz is the authorization plugin chain; nil lets every request
	// through.
	Authz *authz.Middleware
}

// Server serves the Engine API on any number of listeners.
type Server struct {
	cfg     Config
	routers []router.Router
	srv     *http.Server
	serving sync.WaitGroup
}

// New returns a server with the given routers.
func New(cfg Config, routers ...router.Router) *Server {
	s := &Server{cfg: cfg, routers: routers}
	s.srv = &http.Server{
		Handler:           s.mux(),
		ReadHeaderTimeout: 30 * time.Second,
	}
	return s
}

func muxVars(r *http.Request) map[string]string { return mux.Vars(r) }

// mux registers every route twice, with and without the /v1.N prefix, and
// answers unknown paths and methods with dockerd's JSON 404.
func (s *Server) mux() http.Handler {
	m := mux.NewRouter()
	for _, rt := range s.routers {
		for _, r := range rt.Routes() {
			h := s.handler(r.Handler)
			m.Path("/v{version:[0-9.]+}" + r.Path).Methods(r.Method).Handler(h)
			m.Path(r.Path).Methods(r.Method).Handler(h)
		}
	}
	notFound := s.handler(func(context.Context, http.ResponseWriter, *http.Request, map[string]string) error {
		return httputils.NotFoundRoute
	})
	m.NotFoundHandler = notFound
	m.MethodNotAllowedHandler = notFound
	return m
}

// Handler exposes the routed handler, for tests.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Serve starts serving on each listener and returns at once. Errors other
// than a normal close are sent to errc.
func (s *Server) Serve(listeners []net.Listener, errc chan<- error) {
	for _, l := range listeners {
		s.serving.Add(1)
		go func(l net.Listener) {
			defer s.serving.Done()
			logrus.WithField("address", l.Addr().String()).Info("API listen")
			if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}(l)
	}
}

// Shutdown stops accepting, waits up to timeout for in-flight requests, then
// closes whatever is still open.
func (s *Server) Shutdown(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		logrus.WithError(err).Warn("API requests still running at shutdown deadline; closing them")
		s.srv.Close()
	}
	s.serving.Wait()
}
