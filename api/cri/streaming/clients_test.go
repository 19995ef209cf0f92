package streaming

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// fakeRuntime runs whatever the test gives it.
type fakeRuntime struct {
	exec        func(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TermSize) error
	attach      func(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TermSize) error
	portForward func(ctx context.Context, id string, port int32, stream io.ReadWriteCloser) error
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TermSize) error {
	return f.exec(ctx, id, cmd, stdin, stdout, stderr, tty, resize)
}

func (f *fakeRuntime) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TermSize) error {
	return f.attach(ctx, id, stdin, stdout, stderr, tty, resize)
}

func (f *fakeRuntime) PortForward(ctx context.Context, id string, port int32, stream io.ReadWriteCloser) error {
	return f.portForward(ctx, id, port, stream)
}

// newServer starts a Server on loopback and closes it with the test.
func newServer(t *testing.T, cfg Config, rt Runtime) *Server {
	t.Helper()
	s, err := New(cfg, rt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dialSPDY upgrades url to SPDY offering protocols, as client-go does,
// and returns the connection and the protocol the server chose.
func dialSPDY(t *testing.T, url string, protocols ...string) (httpstream.Connection, string) {
	t.Helper()
	conn, protocol, err := tryDialSPDY(t, url, protocols...)
	if err != nil {
		t.Fatal(err)
	}
	return conn, protocol
}

func tryDialSPDY(t *testing.T, url string, protocols ...string) (httpstream.Connection, string, error) {
	t.Helper()
	rt, err := spdy.NewRoundTripper(nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range protocols {
		req.Header.Add(httpstream.HeaderProtocolVersion, p)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	conn, err := rt.NewConnection(resp)
	if err != nil {
		return nil, "", err
	}
	t.Cleanup(func() { conn.Close() })
	return conn, resp.Header.Get(httpstream.HeaderProtocolVersion), nil
}

// createStream opens a stream of typ with extra headers (key, value...).
func createStream(t *testing.T, conn httpstream.Connection, typ string, kv ...string) httpstream.Stream {
	t.Helper()
	h := http.Header{}
	h.Set(streamTypeHeader, typ)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	st, err := conn.CreateStream(h)
	if err != nil {
		t.Fatalf("create %s stream: %v", typ, err)
	}
	return st
}

// readAll reads r to its end, failing the test after 10 s.
func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		ch <- result{b, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil && !strings.Contains(res.err.Error(), "reset") {
			t.Fatalf("read: %v", res.err)
		}
		return string(res.b)
	case <-time.After(10 * time.Second):
		t.Fatal("read: timed out")
		return ""
	}
}

func decodeStatus(t *testing.T, s string) kubeStatus {
	t.Helper()
	var st kubeStatus
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		t.Fatalf("status %q: %v", s, err)
	}
	return st
}

// wsClient is a channel WebSocket client (client-go's wire format).
type wsClient struct {
	ws     *websocket.Conn
	base64 bool
}

func dialWS(t *testing.T, url, protocol string) *wsClient {
	t.Helper()
	ws, err := tryDialWS(url, protocol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &wsClient{ws: ws, base64: strings.Contains(protocol, "base64")}
}

func tryDialWS(url, protocol string) (*websocket.Conn, error) {
	cfg, err := websocket.NewConfig(strings.Replace(url, "http://", "ws://", 1), "http://localhost/")
	if err != nil {
		return nil, err
	}
	if protocol != "" {
		cfg.Protocol = []string{protocol}
	}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		return nil, err
	}
	ws.SetDeadline(time.Now().Add(10 * time.Second))
	return ws, nil
}

// receive reads one binary message.
func receive(c *wsClient, msg *[]byte) error { return websocket.Message.Receive(c.ws, msg) }

func (c *wsClient) send(t *testing.T, channel byte, data []byte) {
	t.Helper()
	var err error
	if c.base64 {
		err = websocket.Message.Send(c.ws, string('0'+channel)+base64.StdEncoding.EncodeToString(data))
	} else {
		err = websocket.Message.Send(c.ws, append([]byte{channel}, data...))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// closeChannel half-closes one of the client's channels (v5).
func (c *wsClient) closeChannel(t *testing.T, channel byte) {
	t.Helper()
	if err := websocket.Message.Send(c.ws, []byte{255, channel}); err != nil {
		t.Fatal(err)
	}
}

// readChannels collects every channel's bytes until the server closes.
func (c *wsClient) readChannels(t *testing.T) map[byte]string {
	t.Helper()
	out := map[byte]string{}
	for {
		var msg []byte
		if c.base64 {
			var s string
			if err := websocket.Message.Receive(c.ws, &s); err != nil {
				return out
			}
			data, err := base64.StdEncoding.DecodeString(s[1:])
			if err != nil {
				t.Fatal(err)
			}
			msg = append([]byte{s[0] - '0'}, data...)
		} else if err := websocket.Message.Receive(c.ws, &msg); err != nil {
			return out
		}
		if len(msg) > 0 {
			out[msg[0]] += string(msg[1:])
		}
	}
}
