package streaming

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// echoPods answers on every port of sandbox p1 with "<port>:" and then
// what it reads, until the client closes; port 9 refuses.
type echoPods struct {
	mu    sync.Mutex
	ports []int32
}

func (e *echoPods) runtime() *fakeRuntime {
	return &fakeRuntime{portForward: func(_ context.Context, id string, port int32, stream io.ReadWriteCloser) error {
		e.mu.Lock()
		e.ports = append(e.ports, port)
		e.mu.Unlock()
		if id != "p1" {
			return fmt.Errorf("sandbox %q", id)
		}
		if port == 9 {
			return errors.New("connection refused")
		}
		fmt.Fprintf(stream, "%d:", port)
		_, err := io.Copy(stream, stream)
		return err
	}}
}

func portForwardURL(t *testing.T, s *Server, ports ...int32) string {
	t.Helper()
	resp, err := s.GetPortForward(&runtimeapi.PortForwardRequest{PodSandboxId: "p1", Port: ports})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Url
}

func TestPortForwardSPDY(t *testing.T) {
	pods := &echoPods{}
	s := newServer(t, Config{}, pods.runtime())
	conn, protocol := dialSPDY(t, portForwardURL(t, s), portForwardProtocolV1)
	if protocol != portForwardProtocolV1 {
		t.Fatalf("negotiated %q", protocol)
	}
	// Two forwarded connections at once on one upgrade, as kubectl
	// port-forward makes them.
	type fwd struct{ data, errs io.ReadWriteCloser }
	open := func(id, port string) fwd {
		errs := createStream(t, conn, streamTypeError, portHeader, port, requestIDHeader, id)
		data := createStream(t, conn, streamTypeData, portHeader, port, requestIDHeader, id)
		return fwd{data, errs}
	}
	a, b := open("0", "8080"), open("1", "443")
	io.WriteString(a.data, "ping a")
	io.WriteString(b.data, "ping b")
	a.data.Close()
	b.data.Close()
	if got := readAll(t, a.data); got != "8080:ping a" {
		t.Fatalf("port 8080: %q", got)
	}
	if got := readAll(t, b.data); got != "443:ping b" {
		t.Fatalf("port 443: %q", got)
	}
	if got := readAll(t, a.errs); got != "" {
		t.Fatalf("error stream: %q", got)
	}

	refused := open("2", "9")
	if got := readAll(t, refused.errs); got != "error forwarding port 9 to pod p1, uid : connection refused" {
		t.Fatalf("error stream of a refused port: %q", got)
	}
}

func TestPortForwardSPDYRefusesBadStreams(t *testing.T) {
	s := newServer(t, Config{}, (&echoPods{}).runtime())
	conn, _ := dialSPDY(t, portForwardURL(t, s), portForwardProtocolV1)
	for _, kv := range [][]string{
		{requestIDHeader, "1"},                     // no port
		{portHeader, "0", requestIDHeader, "1"},    // port 0
		{portHeader, "http", requestIDHeader, "1"}, // not a number
	} {
		h := map[string][]string{streamTypeHeader: {streamTypeData}}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i]] = []string{kv[i+1]}
		}
		if st, err := conn.CreateStream(h); err == nil {
			if _, err := st.Read(make([]byte, 1)); err == nil {
				t.Errorf("stream %v was accepted", kv)
			}
		}
	}
	if _, err := conn.CreateStream(map[string][]string{streamTypeHeader: {"stdin"}, portHeader: {"80"}}); err == nil {
		t.Error("a stdin stream was accepted for port forwarding")
	}
}

func TestPortForwardSPDYPairTimeout(t *testing.T) {
	pods := &echoPods{}
	s := newServer(t, Config{StreamCreationTimeout: 100 * time.Millisecond}, pods.runtime())
	conn, _ := dialSPDY(t, portForwardURL(t, s), portForwardProtocolV1)
	errs := createStream(t, conn, streamTypeError, portHeader, "80", requestIDHeader, "7")
	if got := readAll(t, errs); !strings.Contains(got, "timed out waiting for the streams of request 7") {
		t.Fatalf("error stream: %q", got)
	}
	if len(pods.ports) != 0 {
		t.Fatalf("forwarded %v without a data stream", pods.ports)
	}
}

func TestPortForwardWebSocket(t *testing.T) {
	pods := &echoPods{}
	s := newServer(t, Config{}, pods.runtime())
	c := dialWS(t, portForwardURL(t, s, 80, 9), wsBinaryV4)
	c.send(t, 0, []byte("hi"))
	// The server closes when both forwards are done: port 9 refuses at
	// once, port 80 when the client stops sending; end it by leaving the
	// read side open and closing after the echo arrives.
	got := map[byte]string{}
	for !strings.HasSuffix(got[0], "hi") || len(got[3]) <= 2 {
		var msg []byte
		if err := receive(c, &msg); err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if len(msg) > 0 {
			got[msg[0]] += string(msg[1:])
		}
	}
	port := func(ch byte) uint16 { return binary.LittleEndian.Uint16([]byte(got[ch][:2])) }
	if port(0) != 80 || port(1) != 80 || port(2) != 9 || port(3) != 9 {
		t.Fatalf("port prefixes of %q", got)
	}
	if got[0][2:] != "80:hi" || got[1] != got[1][:2] {
		t.Fatalf("port 80 data %q errors %q", got[0][2:], got[1][2:])
	}
	if got[3][2:] != "error forwarding port 9 to pod p1, uid : connection refused" {
		t.Fatalf("port 9 errors %q", got[3][2:])
	}
}

func TestPortForwardWebSocketNeedsPorts(t *testing.T) {
	s := newServer(t, Config{}, (&echoPods{}).runtime())
	u := portForwardURL(t, s)
	if _, err := tryDialWS(u, wsBinaryV4); err == nil {
		t.Fatal("upgraded a WebSocket port-forward without ports")
	}
	s2 := newServer(t, Config{}, (&echoPods{}).runtime())
	c := dialWS(t, portForwardURL(t, s2)+"?port=8080", wsBinaryV4)
	var msg []byte
	if err := receive(c, &msg); err != nil || len(msg) != 3 || binary.LittleEndian.Uint16(msg[1:]) != 8080 {
		t.Fatalf("first message %v: %v", msg, err)
	}
}

func TestPortForwardSPDYTunneledInWebSocket(t *testing.T) {
	pods := &echoPods{}
	s := newServer(t, Config{}, pods.runtime())
	ws, err := tryDialWS(portForwardURL(t, s), portForwardTunneled)
	if err != nil {
		t.Fatal(err)
	}
	ws.PayloadType = websocket.BinaryFrame
	conn, err := spdy.NewClientConnection(ws)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	errs := createStream(t, conn, streamTypeError, portHeader, "5432", requestIDHeader, "0")
	data := createStream(t, conn, streamTypeData, portHeader, "5432", requestIDHeader, "0")
	io.WriteString(data, "select 1")
	data.Close()
	if got := readAll(t, data); got != "5432:select 1" {
		t.Fatalf("data %q", got)
	}
	if got := readAll(t, errs); got != "" {
		t.Fatalf("errors %q", got)
	}
	if _, err := tryDialWS(portForwardURL(t, s), "SPDY/3.1+v4.channel.k8s.io"); err == nil {
		t.Fatal("tunneled remotecommand upgraded on a port-forward URL")
	}
}

func TestCloseEndsPortForwards(t *testing.T) {
	forwarding := make(chan struct{}, 2)
	ended := make(chan struct{}, 2)
	// A forward that ignores its context: only closing the connection
	// under it ends its read.
	s, err := New(Config{}, &fakeRuntime{portForward: func(_ context.Context, _ string, _ int32, stream io.ReadWriteCloser) error {
		forwarding <- struct{}{}
		io.Copy(io.Discard, stream)
		ended <- struct{}{}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := dialSPDY(t, portForwardURL(t, s), portForwardProtocolV1)
	createStream(t, conn, streamTypeError, portHeader, "80", requestIDHeader, "0")
	createStream(t, conn, streamTypeData, portHeader, "80", requestIDHeader, "0")
	ws := dialWS(t, portForwardURL(t, s, 81), wsBinaryV4)
	for range 2 {
		<-forwarding
	}
	s.Close()
	for range 2 {
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatal("a forward outlived Close")
		}
	}
	select {
	case <-conn.CloseChan():
	case <-time.After(10 * time.Second):
		t.Fatal("the SPDY connection outlived Close")
	}
	// The WebSocket ends too (after the port prefixes it had sent).
	var err2 error
	for err2 == nil {
		err2 = receive(ws, new([]byte))
	}
	if ne, ok := err2.(net.Error); ok && ne.Timeout() {
		t.Fatal("the WebSocket outlived Close")
	}
}
