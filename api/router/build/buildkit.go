package build

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/http2"

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
	(&http2.Server{}).ServeConn(bufferedConn{Conn: conn, r: buf.Reader}, &http2.ServeConnOpts{Context: ctx, Handler: h})
	return nil
}

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
