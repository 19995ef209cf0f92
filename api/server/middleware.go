package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/versions"
)

// versionError is a request for an API version outside [Min, Default].
type versionError struct{ version, min, max string }

func (e versionError) Error() string {
	if e.min != "" {
		return fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", e.version, e.min)
	}
	return fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", e.version, e.max)
}

func (versionError) InvalidParameter() {}

// withVersion negotiates the API version: the /v1.N prefix if given, else
// the default; out-of-range versions are a 400 with dockerd's message.
func (s *Server) withVersion(h router.APIFunc) router.APIFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
		w.Header().Set("Server", "berth/"+s.cfg.ServerVersion+" ("+runtime.GOOS+")")
		w.Header().Set("API-Version", backend.DefaultAPIVersion)
		w.Header().Set("OSType", runtime.GOOS)
		w.Header().Set("Docker-Experimental", strconv.FormatBool(s.cfg.Experimental != nil && s.cfg.Experimental()))
		v := vars["version"]
		if v == "" {
			v = backend.DefaultAPIVersion
		}
		minVersion := backend.MinAPIVersion
		if s.cfg.MinAPIVersion != nil {
			minVersion = s.cfg.MinAPIVersion()
		}
		if versions.LessThan(v, minVersion) {
			return versionError{version: v, min: minVersion}
		}
		if versions.GreaterThan(v, backend.DefaultAPIVersion) {
			return versionError{version: v, max: backend.DefaultAPIVersion}
		}
		return h(httputils.WithVersion(ctx, v), w, r, vars)
	}
}

// statusRecorder remembers the status a handler wrote, for the access log.
// It forwards Flush and Hijack because event streams and attach need them.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach Hijack on the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack is for libraries that assert http.Hijacker directly (websocket).
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	s.status = http.StatusSwitchingProtocols
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

// handler turns an APIFunc into an http.Handler with the middleware chain:
// panic recovery (a 500, never a dropped connection), the authorization
// plugins (outermost, as in dockerd: they see every request, a refused
// version too), version negotiation, debug request logging and error
// writing.
func (s *Server) handler(h router.APIFunc) http.Handler {
	wrapped := s.cfg.Authz.Wrap(s.withVersion(h))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				logrus.WithFields(logrus.Fields{"method": r.Method, "uri": r.RequestURI, "panic": p}).Errorf("handler panic\n%s", debug.Stack())
				if rec.status == 0 {
					httputils.WriteError(rec, errdefs.System(fmt.Errorf("internal error: %v", p)))
				}
			}
			if logrus.IsLevelEnabled(logrus.DebugLevel) {
				logrus.WithFields(logrus.Fields{
					"method":   r.Method,
					"uri":      r.RequestURI,
					"status":   rec.status,
					"duration": time.Since(start),
				}).Debug("API request")
			}
		}()
		vars := muxVars(r)
		if err := wrapped(r.Context(), rec, r, vars); err != nil {
			if rec.status != 0 {
				// Headers are gone (a stream failed midway); log only.
				logrus.WithError(err).WithField("uri", r.RequestURI).Warn("error after response started")
				return
			}
			httputils.WriteError(rec, err)
		}
	})
}
