package streaming

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/sirupsen/logrus"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// streamOptions are the streams a session was granted when its URL was
// handed out; the client's upgrade cannot widen them.
type streamOptions struct {
	stdin, stdout, stderr, tty bool
}

// streamRequest is what ExecRequest and AttachRequest share.
type streamRequest interface {
	GetStdin() bool
	GetStdout() bool
	GetStderr() bool
	GetTty() bool
}

func optionsOf(r streamRequest) streamOptions {
	return streamOptions{stdin: r.GetStdin(), stdout: r.GetStdout(), stderr: r.GetStderr(), tty: r.GetTty()}
}

// session is an upgraded exec or attach connection and its streams; a
// stream the session was not granted is nil.
type session struct {
	conn        io.Closer
	stdin       io.Reader
	stdout      io.WriteCloser
	stderr      io.WriteCloser
	errors      io.WriteCloser
	resize      io.Reader // nil when the protocol has no resize stream
	writeStatus statusWriter
	// gone is closed when the client's connection ends; nil when the
	// transport tells it through resize reaching EOF instead.
	gone <-chan struct{}
}

// runFunc runs a session's work over its streams.
type runFunc func(ctx context.Context, stdin io.Reader, stdout, stderr io.WriteCloser, resize <-chan TermSize) error

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	req, ok := redeem[*runtimeapi.ExecRequest](s, w, r)
	if !ok {
		return
	}
	s.serveSession(w, r, optionsOf(req), func(ctx context.Context, stdin io.Reader, stdout, stderr io.WriteCloser, resize <-chan TermSize) error {
		return s.rt.Exec(ctx, req.ContainerId, req.Cmd, stdin, stdout, stderr, req.Tty, resize)
	})
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	req, ok := redeem[*runtimeapi.AttachRequest](s, w, r)
	if !ok {
		return
	}
	s.serveSession(w, r, optionsOf(req), func(ctx context.Context, stdin io.Reader, stdout, stderr io.WriteCloser, resize <-chan TermSize) error {
		return s.rt.Attach(ctx, req.ContainerId, stdin, stdout, stderr, req.Tty, resize)
	})
}

// serveSession upgrades the request, runs the work over the streams and
// reports how it ended on the error stream.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, o streamOptions, run runFunc) {
	var sess *session
	if wsstream.IsWebSocketRequest(r) {
		sess = s.openWebSocketSession(w, r, o)
	} else {
		sess = s.openSPDYSession(w, r, o)
	}
	if sess == nil {
		return
	}
	untrack, ok := s.track(sess.conn)
	if !ok {
		return
	}
	defer untrack()
	defer sess.conn.Close()

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var resize chan TermSize
	if o.tty && sess.resize != nil {
		resize = make(chan TermSize)
	}
	resizeEnded := make(chan struct{})
	if sess.resize != nil {
		go readResizes(ctx, sess.resize, resize, resizeEnded)
	}
	gone := sess.gone
	if gone == nil {
		gone = resizeEnded
	}
	go func() {
		select {
		case <-gone:
			cancel()
		case <-ctx.Done():
		}
	}()

	err := run(ctx, sess.stdin, sess.stdout, sess.stderr, resize)
	log := logrus.WithField("url", r.URL.Path)
	if err != nil {
		if _, exited := exitCode(err); !exited {
			log.WithError(err).Warn("CRI stream failed")
		}
	}
	if werr := sess.writeStatus(sess.errors, sessionStatus(err)); werr != nil {
		log.WithError(werr).Debug("CRI stream: the client left before the status")
	}
	// Half-close what the client reads so it sees EOF, not a reset,
	// after the last bytes.
	for _, c := range []io.Closer{sess.errors, sess.stdout, sess.stderr} {
		if c != nil {
			c.Close()
		}
	}
}

// readResizes decodes the client's terminal sizes (a JSON object each)
// into out until the stream ends; with out nil it only waits for the end.
// ended is closed at the end, out too.
func readResizes(ctx context.Context, r io.Reader, out chan<- TermSize, ended chan<- struct{}) {
	defer close(ended)
	if out != nil {
		defer close(out)
	}
	dec := json.NewDecoder(r)
	for {
		var size TermSize
		if err := dec.Decode(&size); err != nil {
			if err != io.EOF {
				// Not JSON: no more sizes, but keep draining so the end
				// of the stream is still seen when it comes.
				io.Copy(io.Discard, io.MultiReader(dec.Buffered(), r))
			}
			return
		}
		if out == nil {
			continue
		}
		select {
		case out <- size:
		case <-ctx.Done():
			return
		}
	}
}
