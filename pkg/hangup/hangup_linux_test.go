package hangup

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func unixPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestWatchReportsClose(t *testing.T) {
	server, client := unixPair(t)
	hung := make(chan struct{})
	stop := Watch(server, func() { close(hung) })
	defer stop()
	// Data waiting to be read and a half-close are not a hang-up.
	client.Write([]byte("stdin"))
	client.(*net.UnixConn).CloseWrite()
	select {
	case <-hung:
		t.Fatal("reported a hang-up while the client only half-closed")
	case <-time.After(100 * time.Millisecond):
	}
	client.Close()
	select {
	case <-hung:
	case <-time.After(5 * time.Second):
		t.Fatal("hang-up not reported")
	}
	// Nothing was read from the connection.
	buf := make([]byte, 16)
	if n, _ := server.Read(buf); string(buf[:n]) != "stdin" {
		t.Fatalf("read %q", buf[:n])
	}
}

func TestWatchStop(t *testing.T) {
	server, client := unixPair(t)
	called := make(chan struct{}, 1)
	stop := Watch(server, func() { called <- struct{}{} })
	stop()
	stop()
	client.Close()
	select {
	case <-called:
		t.Fatal("fn ran after stop")
	case <-time.After(100 * time.Millisecond):
	}
}
