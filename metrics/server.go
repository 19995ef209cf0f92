package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"
)

// Server is the metrics-addr listener: its own http.Server beside the
// Engine API's, so that a slow scraper never holds an API connection and
// shutting the API down does not depend on it.
type Server struct {
	srv *http.Server
	l   net.Listener
}

// Listen opens addr (host:port, TCP, plain HTTP without authentication, as
// dockerd serves it: any address is allowed) and serves h on it.
func Listen(addr string, h http.Handler) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		l: l,
		srv: &http.Server{
			Handler: h,
			// A scrape is a small request; a client that takes longer
			// than this to send its headers is not a Prometheus.
			ReadHeaderTimeout: 10 * time.Second,
		},
	}
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logrus.WithError(err).Error("metrics API stopped serving")
		}
	}()
	logrus.WithField("addr", l.Addr().String()).Info("metrics API listening")
	return s, nil
}

// Addr is where the server listens (useful when addr named port 0).
func (s *Server) Addr() net.Addr { return s.l.Addr() }

// Close stops accepting scrapes and waits up to timeout for those in
// flight, then closes what remains.
func (s *Server) Close(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
}
