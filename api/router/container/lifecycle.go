package container

import (
	"context"
	"errors"

	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"golang.org/x/net/websocket"

	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/hangup"
)

// formTimeout reads ?t= (seconds before SIGKILL); absent is nil.
func formTimeout(req *http.Request) (*int, error) {
	s := req.Form.Get("t")
	if s == "" {
		return nil, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return nil, errdefs.InvalidParameterf("invalid value for t: %s", s)
	}
	return &v, nil
}

func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (r *containerRouter) start(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	// Old clients sent a HostConfig here; API 1.24+ must not.
	if req.ContentLength > 0 {
		var body map[string]any
		if err := httputils.ReadJSON(req, &body); err != nil {
			return err
		}
		if len(body) > 0 {
			return errdefs.InvalidParameterf("starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24")
		}
	}
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	// Checked before the container is looked up, as dockerd does: the ID
	// names a directory.
	if id := req.Form.Get("checkpoint"); id != "" {
		if !checkpointID.MatchString(id) || strings.HasSuffix(id, ".") {
			return errdefs.InvalidParameterf("invalid checkpoint ID %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", id)
		}
		return errdefs.NotImplemented(errors.New("checkpoint restore is not supported by berth"))
	}
	if err := r.backend.ContainerStart(ctx, vars["name"]); err != nil {
		return err
	}
	return noContent(w)
}

// checkpointID is dockerd's restricted name pattern.
var checkpointID = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// stopLike serves stop and restart, which take the same query (?t=,
// ?signal=) and differ only in the backend call.
func stopLike(call func(ctx context.Context, ref, signal string, timeout *int) error) func(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	return func(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
		if err := httputils.ParseForm(req); err != nil {
			return err
		}
		t, err := formTimeout(req)
		if err != nil {
			return err
		}
		if err := call(ctx, vars["name"], req.Form.Get("signal"), t); err != nil {
			return err
		}
		return noContent(w)
	}
}

func (r *containerRouter) kill(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	if err := r.backend.ContainerKill(ctx, vars["name"], req.Form.Get("signal")); err != nil {
		return err
	}
	return noContent(w)
}

func (r *containerRouter) pause(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := r.backend.ContainerPause(ctx, vars["name"]); err != nil {
		return err
	}
	return noContent(w)
}

func (r *containerRouter) unpause(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := r.backend.ContainerUnpause(ctx, vars["name"]); err != nil {
		return err
	}
	return noContent(w)
}

func (r *containerRouter) resize(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	h, err := httputils.Uint32Value(req, "h")
	if err != nil {
		return errdefs.InvalidParameterf("invalid resize height %q: %v", req.Form.Get("h"), err)
	}
	wd, err := httputils.Uint32Value(req, "w")
	if err != nil {
		return errdefs.InvalidParameterf("invalid resize width %q: %v", req.Form.Get("w"), err)
	}
	if err := r.backend.ContainerResize(ctx, vars["name"], int(h), int(wd)); err != nil {
		return err
	}
	return nil
}

// attach hijacks the connection, as dockerd does: 101 UPGRADED when the
// client asked to upgrade, else a plain 200 followed by the raw stream.
func (r *containerRouter) attach(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	o := backend.ContainerAttachOptions{
		Stream:     httputils.BoolValue(req, "stream"),
		Logs:       httputils.BoolValue(req, "logs"),
		Stdin:      httputils.BoolValue(req, "stdin"),
		Stdout:     httputils.BoolValue(req, "stdout"),
		Stderr:     httputils.BoolValue(req, "stderr"),
		DetachKeys: req.Form.Get("detachKeys"),
	}
	// Once hijacked, the request's context no longer ends when the client
	// goes away: a hang-up on the socket ends the attach instead, so that
	// an attach waiting for output or for the container to start does not
	// outlive its client.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := func() {}
	defer func() { stop() }()
	return r.backend.ContainerAttach(ctx, vars["name"], o, func(multiplexed bool) (io.ReadWriteCloser, error) {
		conn, err := hijack(ctx, w, req, multiplexed)
		if err == nil {
			stop = hangup.Watch(netConnOf(conn), cancel)
		}
		return conn, err
	})
}

// netConnOf is the socket under what hijack returned.
func netConnOf(rwc io.ReadWriteCloser) net.Conn {
	if p, ok := rwc.(*prefixedConn); ok {
		rwc = p.ReadWriteCloser
	}
	c, _ := rwc.(net.Conn)
	return c
}

// hijack takes over the connection and writes the upgrade response.
// ctx carries the negotiated API version (req's own context does not).
func hijack(ctx context.Context, w http.ResponseWriter, req *http.Request, multiplexed bool) (io.ReadWriteCloser, error) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, errdefs.System(fmt.Errorf("error attaching: %w", err))
	}
	ct := "application/vnd.docker.raw-stream"
	if multiplexed && !httputils.VersionLessThan(ctx, "1.42") {
		ct = "application/vnd.docker.multiplexed-stream"
	}
	if _, upgrade := req.Header["Upgrade"]; upgrade {
		fmt.Fprintf(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", ct)
	} else {
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", ct)
	}
	// Bytes the client sent right after the request (stdin) may already
	// sit in the server's buffer.
	if n := buf.Reader.Buffered(); n > 0 {
		pre, _ := buf.Reader.Peek(n)
		return &prefixedConn{ReadWriteCloser: conn, pre: append([]byte(nil), pre...)}, nil
	}
	return conn, nil
}

type prefixedConn struct {
	io.ReadWriteCloser
	pre []byte
}

func (p *prefixedConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.ReadWriteCloser.Read(b)
}

// CloseWrite half-closes, so a client waiting for EOF sees the end of output.
func (p *prefixedConn) CloseWrite() error {
	if cw, ok := p.ReadWriteCloser.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// attachWebsocket serves the attach over a websocket, unframed, as
// dockerd's /attach/ws does. The websocket library checks the handshake
// (including Origin); errors before the upgrade are plain HTTP errors.
func (r *containerRouter) attachWebsocket(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	o := backend.ContainerAttachOptions{
		Stream:     httputils.BoolValue(req, "stream"),
		Logs:       httputils.BoolValue(req, "logs"),
		Stdin:      httputils.BoolValue(req, "stdin"),
		Stdout:     httputils.BoolValue(req, "stdout"),
		Stderr:     httputils.BoolValue(req, "stderr"),
		DetachKeys: req.Form.Get("detachKeys"),
		Raw:        true,
	}
	if _, err := r.backend.ContainerInspect(ctx, vars["name"], false); err != nil {
		return err
	}
	websocket.Server{Handler: func(ws *websocket.Conn) {
		ws.PayloadType = websocket.BinaryFrame
		err := r.backend.ContainerAttach(ctx, vars["name"], o, func(bool) (io.ReadWriteCloser, error) {
			return ws, nil
		})
		if err != nil {
			// The connection is upgraded: the error can only be logged.
			logrus.WithError(err).Warn("websocket attach failed")
		}
	}}.ServeHTTP(w, req)
	return nil
}
