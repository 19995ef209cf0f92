package streaming

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// The remotecommand protocols over SPDY, newest first. v2 added the
// error stream's place in the handshake, v3 the resize stream, v4 the
// Status JSON on the error stream (with the exit code).
const (
	remoteCommandV1 = "channel.k8s.io"
	remoteCommandV2 = "v2.channel.k8s.io"
	remoteCommandV3 = "v3.channel.k8s.io"
	remoteCommandV4 = "v4.channel.k8s.io"
	remoteCommandV5 = "v5.channel.k8s.io" // WebSocket only
)

var spdyRemoteCommandProtocols = []string{remoteCommandV4, remoteCommandV3, remoteCommandV2, remoteCommandV1}

// The header naming a stream's role, and the roles.
const (
	streamTypeHeader = "streamType"
	streamTypeError  = "error"
	streamTypeStdin  = "stdin"
	streamTypeStdout = "stdout"
	streamTypeStderr = "stderr"
	streamTypeResize = "resize"
	streamTypeData   = "data"
)

// acceptedStream is a stream the client opened and the moment its reply
// was queued: a session starts only after every reply, so no reply can
// trail the connection's GOAWAY.
type acceptedStream struct {
	httpstream.Stream
	replySent <-chan struct{}
}

// upgradeSPDY negotiates one of protocols and upgrades r to SPDY/3.1;
// the client's streams arrive on the returned channel until stop is
// closed, and are refused after. The answer to a failed upgrade has been
// written.
func (s *Server) upgradeSPDY(w http.ResponseWriter, r *http.Request, protocols []string, stop <-chan struct{}, accept func(httpstream.Stream) error) (string, httpstream.Connection, <-chan acceptedStream) {
	protocol, err := httpstream.Handshake(r, w, protocols)
	if err != nil {
		return "", nil, nil
	}
	handler, streams := spdyStreamHandler(stop, accept)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, handler)
	if conn == nil {
		return "", nil, nil
	}
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	return protocol, conn, streams
}

// spdyStreamHandler hands the streams a SPDY connection's client opens
// over the returned channel, after accept (if any) let them in, until
// stop is closed.
func spdyStreamHandler(stop <-chan struct{}, accept func(httpstream.Stream) error) (httpstream.NewStreamHandler, <-chan acceptedStream) {
	streams := make(chan acceptedStream)
	return func(st httpstream.Stream, replySent <-chan struct{}) error {
		if accept != nil {
			if err := accept(st); err != nil {
				return err
			}
		}
		select {
		case streams <- acceptedStream{Stream: st, replySent: replySent}:
			return nil
		case <-stop:
			return errors.New("no stream is expected now")
		}
	}, streams
}

// openSPDYSession upgrades to SPDY and waits for the client's streams.
func (s *Server) openSPDYSession(w http.ResponseWriter, r *http.Request, o streamOptions) *session {
	stop := make(chan struct{})
	defer close(stop)
	protocol, conn, streams := s.upgradeSPDY(w, r, spdyRemoteCommandProtocols, stop, nil)
	if conn == nil {
		return nil
	}
	if protocol == "" {
		protocol = remoteCommandV1
	}
	sess, err := s.collectStreams(conn, streams, protocol, o)
	if err != nil {
		logrus.WithError(err).WithField("url", r.URL.Path).Warn("CRI stream: no session")
		conn.Close()
		return nil
	}
	return sess
}

// collectStreams waits for the error stream and one stream per granted
// option (resize with a tty from v3), or the creation timeout.
func (s *Server) collectStreams(conn httpstream.Connection, streams <-chan acceptedStream, protocol string, o streamOptions) (*session, error) {
	withResize := o.tty && protocol != remoteCommandV1 && protocol != remoteCommandV2
	want := 1 + count(o.stdin, o.stdout, o.stderr, withResize)

	sess := &session{conn: conn, writeStatus: writeStatusText, gone: closeSignal(conn.CloseChan())}
	if protocol == remoteCommandV4 {
		sess.writeStatus = writeStatusJSON
	}
	expired := time.NewTimer(s.cfg.StreamCreationTimeout)
	defer expired.Stop()
	replied := make(chan struct{})
	done := make(chan struct{})
	defer close(done)
	seen := map[string]bool{}
	for got := 0; got < want; {
		select {
		case st := <-streams:
			typ := st.Headers().Get(streamTypeHeader)
			if seen[typ] || !sess.take(typ, st, o, withResize) {
				// A second stream of a role, or one not granted: kubelet
				// ignores it too, and it does not count.
				logrus.WithField("type", typ).Debug("CRI stream: ignoring a stream")
				continue
			}
			seen[typ] = true
			go func() {
				select {
				case <-st.replySent:
					select {
					case replied <- struct{}{}:
					case <-done:
					}
				case <-done:
				}
			}()
		case <-replied:
			got++
		case <-expired.C:
			return nil, errors.New("timed out waiting for the client to create streams")
		case <-conn.CloseChan():
			return nil, errors.New("the client left before creating its streams")
		case <-s.ctx.Done():
			return nil, errors.New("the streaming server is closing")
		}
	}
	if sess.errors == nil {
		return nil, fmt.Errorf("the client created no %s stream", streamTypeError)
	}
	return sess, nil
}

// take puts st in its role's place if the session was granted that role.
func (sess *session) take(typ string, st httpstream.Stream, o streamOptions, withResize bool) bool {
	switch {
	case typ == streamTypeError:
		sess.errors = st
	case typ == streamTypeStdin && o.stdin:
		sess.stdin = st
	case typ == streamTypeStdout && o.stdout:
		sess.stdout = st
	case typ == streamTypeStderr && o.stderr:
		sess.stderr = st
	case typ == streamTypeResize && withResize:
		sess.resize = st
	default:
		return false
	}
	return true
}

func count(flags ...bool) int {
	n := 0
	for _, f := range flags {
		if f {
			n++
		}
	}
	return n
}

// closeSignal turns spdystream's close channel into one that is closed,
// never sent on.
func closeSignal(c <-chan bool) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		<-c
		close(out)
	}()
	return out
}
