package build

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/http2"

	"github.com/berthd/berth/api/server/servertest"
)

// upgrade sends POST /grpc with Upgrade: h2c on a fresh connection to srv
// and returns the connection (with what was read past the response: the
// server's first HTTP/2 frames) and the response to the upgrade.
func upgrade(t *testing.T, srv *httptest.Server) (net.Conn, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req, _ := http.NewRequest("POST", "http://berth/grpc", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "h2c")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	return bufferedConn{Conn: conn, r: br}, resp
}

func TestGRPCUpgradesToH2C(t *testing.T) {
	// The BuildKit side is any HTTP/2 handler: what matters is that the
	// hijacked connection speaks HTTP/2 to it after the 101.
	f := &fakeBackend{grpc: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto+" "+r.URL.Path)
	})}
	srv := httptest.NewServer(servertest.Handler(New(f)))
	defer srv.Close()

	conn, resp := upgrade(t, srv)
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "h2c" {
		t.Fatalf("upgrade answered %s %v", resp.Status, resp.Header)
	}
	cc, err := (&http2.Transport{AllowHTTP: true}).NewClientConn(conn)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://berth/moby.buildkit.v1.Control/Info", nil)
	r2, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	body, _ := io.ReadAll(r2.Body)
	if string(body) != "HTTP/2.0 /moby.buildkit.v1.Control/Info" {
		t.Errorf("BuildKit's handler saw %q", body)
	}
}

func TestGRPCWithBuildKitOffIsNotFound(t *testing.T) {
	srv := httptest.NewServer(servertest.Handler(New(&fakeBackend{})))
	defer srv.Close()
	_, resp := upgrade(t, srv)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "disabled") {
		t.Errorf("BuildKit off: %s %s", resp.Status, body)
	}
}
