package streaming

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/net/websocket"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// Port forwarding over SPDY: for every forwarded connection the client
// opens a data and an error stream that share a requestID header and
// carry the port in the port header. The same SPDY can run inside a
// WebSocket (client-go's tunneling dialer, crictl --transport websocket).
// Over plain channel WebSocket the ports are fixed at the start, a data
// and an error channel each.
const (
	portForwardProtocolV1 = "portforward.k8s.io"
	portForwardTunneled   = "SPDY/3.1+" + portForwardProtocolV1
	portHeader            = "port"
	requestIDHeader       = "requestID"
)

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	req, ok := redeem[*runtimeapi.PortForwardRequest](s, w, r)
	if !ok {
		return
	}
	switch {
	case wsstream.IsWebSocketRequestWithTunnelingProtocol(r):
		s.portForwardTunneled(w, r, req.PodSandboxId)
	case wsstream.IsWebSocketRequest(r):
		s.portForwardWebSocket(w, r, req)
	default:
		s.portForwardSPDY(w, r, req.PodSandboxId)
	}
}

// forward runs one forwarded connection and reports its failure on
// errStream, worded as kubelet words it.
func (s *Server) forward(ctx context.Context, podSandboxID string, port int32, data io.ReadWriteCloser, errStream io.WriteCloser) {
	defer data.Close()
	defer errStream.Close()
	if err := s.rt.PortForward(ctx, podSandboxID, port, data); err != nil {
		logrus.WithError(err).WithField("sandbox", podSandboxID).WithField("port", port).Debug("CRI port-forward failed")
		fmt.Fprintf(errStream, "error forwarding port %d to pod %s, uid : %v", port, podSandboxID, err)
	}
}

// checkPortForwardStream refuses a stream without a valid port and type.
func checkPortForwardStream(st httpstream.Stream) error {
	p := st.Headers().Get(portHeader)
	if p == "" {
		return fmt.Errorf("%q header is required", portHeader)
	}
	if port, err := strconv.ParseUint(p, 10, 16); err != nil || port < 1 {
		return fmt.Errorf("invalid port %q", p)
	}
	switch typ := st.Headers().Get(streamTypeHeader); typ {
	case streamTypeData, streamTypeError:
		return nil
	case "":
		return fmt.Errorf("%q header is required", streamTypeHeader)
	default:
		return fmt.Errorf("invalid stream type %q", typ)
	}
}

// streamPair is one forwarded connection's two SPDY streams as they
// arrive.
type streamPair struct {
	id          string
	data, error httpstream.Stream
	timer       *time.Timer
}

func (p *streamPair) add(st httpstream.Stream) error {
	switch st.Headers().Get(streamTypeHeader) {
	case streamTypeData:
		if p.data != nil {
			return errors.New("data stream already assigned")
		}
		p.data = st
	case streamTypeError:
		if p.error != nil {
			return errors.New("error stream already assigned")
		}
		p.error = st
	}
	return nil
}

func (p *streamPair) complete() bool { return p.data != nil && p.error != nil }

// fail tells the client on the error stream, if it has one yet.
func (p *streamPair) fail(msg string) {
	if p.error != nil {
		io.WriteString(p.error, msg)
	}
}

// requestID pairs the streams. A client too old to send the header
// opens each pair as consecutive stream IDs, error first; kubelet
// derives the pair from that, and so does berth.
func requestID(st httpstream.Stream) string {
	if id := st.Headers().Get(requestIDHeader); id != "" {
		return id
	}
	if st.Headers().Get(streamTypeHeader) == streamTypeData {
		return strconv.Itoa(int(st.Identifier()) - 2)
	}
	return strconv.Itoa(int(st.Identifier()))
}

// portForwardSPDY upgrades to SPDY and forwards.
func (s *Server) portForwardSPDY(w http.ResponseWriter, r *http.Request, podSandboxID string) {
	stop := make(chan struct{})
	_, conn, streams := s.upgradeSPDY(w, r, []string{portForwardProtocolV1}, stop, checkPortForwardStream)
	if conn == nil {
		close(stop)
		return
	}
	s.forwardStreams(conn, streams, stop, podSandboxID)
}

// portForwardTunneled upgrades to a binary WebSocket and speaks SPDY in
// it, as kube-apiserver's tunneling proxy does towards kubectl.
func (s *Server) portForwardTunneled(w http.ResponseWriter, r *http.Request, podSandboxID string) {
	websocket.Server{
		// Any origin: the one-time URL is the credential, and the
		// clients are not browsers.
		Handshake: func(cfg *websocket.Config, _ *http.Request) error {
			if !slices.Contains(cfg.Protocol, portForwardTunneled) {
				return fmt.Errorf("unsupported protocols %q", cfg.Protocol)
			}
			cfg.Protocol = []string{portForwardTunneled}
			return nil
		},
		Handler: func(ws *websocket.Conn) {
			ws.PayloadType = websocket.BinaryFrame
			stop := make(chan struct{})
			handler, streams := spdyStreamHandler(stop, checkPortForwardStream)
			conn, err := spdy.NewServerConnection(ws, handler)
			if err != nil {
				close(stop)
				logrus.WithError(err).WithField("url", r.URL.Path).Warn("CRI port-forward: no SPDY in the WebSocket")
				return
			}
			conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
			s.forwardStreams(conn, streams, stop, podSandboxID)
		},
	}.ServeHTTP(w, r)
}

// forwardStreams serves forwarded connections over a SPDY connection
// until the client leaves, then closes stop.
func (s *Server) forwardStreams(conn httpstream.Connection, streams <-chan acceptedStream, stop chan struct{}, podSandboxID string) {
	ctx, cancel := context.WithCancel(s.ctx)
	var running sync.WaitGroup
	defer func() {
		close(stop)
		cancel()
		conn.Close()
		running.Wait()
	}()
	untrack, ok := s.track(conn)
	if !ok {
		return
	}
	defer untrack()

	pairs := map[string]*streamPair{}
	expired := make(chan *streamPair)
	for {
		select {
		case <-conn.CloseChan():
			return
		case <-ctx.Done():
			return
		case st := <-streams:
			id := requestID(st)
			p := pairs[id]
			if p == nil {
				p = &streamPair{id: id}
				p.timer = time.AfterFunc(s.cfg.StreamCreationTimeout, func() {
					select {
					case expired <- p:
					case <-ctx.Done():
					}
				})
				pairs[id] = p
			}
			if err := p.add(st); err != nil {
				p.fail(fmt.Sprintf("error processing stream for request %s: %v", id, err))
				continue
			}
			if !p.complete() {
				continue
			}
			p.timer.Stop()
			delete(pairs, id)
			port, _ := strconv.ParseInt(p.data.Headers().Get(portHeader), 10, 32)
			running.Add(1)
			go func() {
				defer running.Done()
				// Forget the finished streams, or a long-lived client's
				// connection would keep every one it ever opened.
				defer conn.RemoveStreams(p.data, p.error)
				s.forward(ctx, podSandboxID, int32(port), p.data, p.error)
			}()
		case p := <-expired:
			if pairs[p.id] != p {
				continue
			}
			delete(pairs, p.id)
			p.fail(fmt.Sprintf("timed out waiting for the streams of request %s", p.id))
			for _, st := range []httpstream.Stream{p.data, p.error} {
				if st != nil {
					st.Reset()
				}
			}
			conn.RemoveStreams(p.data, p.error)
		}
	}
}

// webSocketPorts are the ports a WebSocket client forwards: the CRI
// request's, else the port query parameters (comma lists allowed).
func webSocketPorts(r *http.Request, granted []int32) ([]int32, error) {
	if len(granted) > 0 {
		return granted, nil
	}
	var ports []int32
	for _, v := range r.URL.Query()[portHeader] {
		for _, p := range strings.Split(v, ",") {
			port, err := strconv.ParseUint(p, 10, 16)
			if err != nil || port < 1 {
				return nil, fmt.Errorf("invalid port %q", p)
			}
			ports = append(ports, int32(port))
		}
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("query parameter %q is required", portHeader)
	}
	return ports, nil
}

// portForwardWebSocket forwards one connection per port: channel 2i is
// port i's data, 2i+1 its errors, each opened by the port number as two
// little-endian bytes.
func (s *Server) portForwardWebSocket(w http.ResponseWriter, r *http.Request, req *runtimeapi.PortForwardRequest) {
	ports, err := webSocketPorts(r, req.Port)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	channels := make([]wsstream.ChannelType, 0, 2*len(ports))
	for range ports {
		channels = append(channels, wsstream.ReadWriteChannel, wsstream.WriteChannel)
	}
	conn := wsstream.NewConn(wsProtocols(channels, false))
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		logrus.WithError(err).WithField("url", r.URL.Path).Warn("CRI port-forward: WebSocket upgrade failed")
		return
	}
	untrack, ok := s.track(conn)
	if !ok {
		return
	}
	defer untrack()
	defer conn.Close()

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var running sync.WaitGroup
	for i, port := range ports {
		data, errStream := streams[2*i], streams[2*i+1]
		prefix := binary.LittleEndian.AppendUint16(nil, uint16(port))
		data.Write(prefix)
		errStream.Write(prefix)
		running.Add(1)
		go func() {
			defer running.Done()
			s.forward(ctx, req.PodSandboxId, port, data, errStream)
		}()
	}
	running.Wait()
}
