package build

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/net/http2"

	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
)

// BuildKit is the embedded BuildKit as its two routes see it.
type BuildKit interface {
	// BuildKitHandler returns the gRPC handler of BuildKit's control API
	// (starting BuildKit on first use), or a not-found error when
	// BuildKit is off so that buildx falls back as it does on a daemon
	// without it.
	BuildKitHandler(ctx context.Context) (http.Handler, error)
	// BuildKitSession serves the client's session on the hijacked
	// connection of POST /session.
	BuildKitSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error
	// BuildKitBuild runs POST /build?version=2 in BuildKit: the context
	// comes from the client's session, a remote URL or body; progress goes
	// to out as BuildKit status messages; it returns the image ID.
	BuildKitBuild(ctx context.Context, body io.Reader, req backend.BuildRequest, out backend.BuildOutput) (string, error)
	// BuildKitCancel stops the BuildKit build the client named id.
	BuildKitCancel(ctx context.Context, id string) error
}

// builderVersion says whether the build asks for BuildKit (version=2)
// rather than the classic builder (version=1, the default).
func builderVersion(r *http.Request) (buildKit bool, err error) {
	switch v := r.Form.Get("version"); v {
	case "", "1":
		return false, nil
	case "2":
		return true, nil
	default:
		return false, errdefs.InvalidParameterf("invalid version %q", v)
	}
}

// parseBuildKitRequest reads what only BuildKit builds have: the session,
// the build's ID and its outputs. Squash is the classic builder's alone
// (dockerd has it for BuildKit only in experimental mode).
func parseBuildKitRequest(ctx context.Context, r *http.Request, req *backend.BuildRequest) error {
	if req.Squash {
		return errdefs.InvalidParameterf("squash is only supported with experimental mode")
	}
	req.SessionID = r.Form.Get("session")
	req.BuildID = r.Form.Get("buildid")
	if !httputils.VersionLessThan(ctx, "1.40") {
		if err := jsonParam(r, "outputs", &req.Outputs); err != nil {
			return err
		}
	}
	return nil
}

// grpc serves POST /grpc as dockerd does: an HTTP/1.1 upgrade to h2c,
// after which the connection is one HTTP/2 (gRPC) connection.
func (br *buildRouter) grpc(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if proto := r.Header.Get("Upgrade"); proto != "h2c" {
		if proto == "" {
			return errdefs.InvalidParameterf("no upgrade proto in request")
		}
		return errdefs.InvalidParameterf("protocol %s not supported", proto)
	}
	h, err := br.backend.BuildKitHandler(ctx)
	if err != nil {
		return err
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return errdefs.System(fmt.Errorf("hijack /grpc: %w", err))
	}
	defer conn.Close()
	// The connection lives as long as the client's BuildKit client: no
	// deadline the HTTP server set for the request may end it.
	_ = conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprint(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"); err != nil {
		return nil
	}
	(&http2.Server{}).ServeConn(bufferedConn{Conn: conn, r: buf.Reader}, &http2.ServeConnOpts{
		Context: ctx, Handler: h, BaseConfig: &http.Server{ErrorLog: h2ErrorLog()},
	})
	return nil
}

// h2ErrorLog sends the HTTP/2 server's own messages to the daemon's debug
// log. Without it they went to stderr through the standard logger, in no
// format of the daemon's: "error reading preface from client" whenever a
// client connected to /grpc and went away before speaking HTTP/2 (the
// BuildKit tests' daemon logs had them).
var h2ErrorLog = sync.OnceValue(func() *log.Logger {
	return log.New(logrus.StandardLogger().WriterLevel(logrus.DebugLevel), "grpc (h2c): ", 0)
})

// session serves POST /session: BuildKit's session manager hijacks the
// connection itself.
func (br *buildRouter) session(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	return br.backend.BuildKitSession(ctx, w, r)
}

// bufferedConn reads first what the HTTP server had already buffered past
// the upgrade request (an eager client's HTTP/2 preface).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
