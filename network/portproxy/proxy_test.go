package portproxy

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// needIPv6 skips where the host has no IPv6 loopback.
func needIPv6(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l.Close()
}

func TestTCP(t *testing.T) {
	needIPv6(t)
	backend, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Write([]byte("echo " + line))
			}()
		}
	}()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	p := TCP(l, backend.Addr().(*net.TCPAddr).AddrPort())
	c, err := net.DialTimeout("tcp6", l.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write([]byte("hi\n"))
	c.(*net.TCPConn).CloseWrite()
	got, _ := bufio.NewReader(c).ReadString('\n')
	if got != "echo hi\n" {
		t.Fatalf("got %q", got)
	}
	// Close ends open connections and the listener.
	c2, err := net.Dial("tcp6", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	p.Close()
	c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("connection still open after Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp6", l.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still open after Close")
	}
}

func TestUDP(t *testing.T) {
	needIPv6(t)
	backend, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		b := make([]byte, 100)
		for {
			n, from, err := backend.ReadFrom(b)
			if err != nil {
				return
			}
			backend.WriteTo(append([]byte("echo "), b[:n]...), from)
		}
	}()
	s, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	p := UDP(s, netip.MustParseAddrPort(backend.LocalAddr().String()))
	defer p.Close()
	c, err := net.Dial("udp6", s.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write([]byte("ping"))
	b := make([]byte, 100)
	n, err := c.Read(b)
	if err != nil || string(b[:n]) != "echo ping" {
		t.Fatalf("got %q, %v", b[:n], err)
	}
}

// A client the proxy accepts before the container's server listens (a
// port is published when the container starts, before its server binds)
// gets the server's answer once it listens, not a reset: the proxy
// retries the refused dial (moby's TestAccessPublishedPortFromHost on
// [::1], which connects right after the container started). A server
// that never listens still ends the connection, after refusedWait.
func TestTCPWaitsForServerToListen(t *testing.T) {
	needIPv6(t)
	// A port nothing listens on yet.
	reserve, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := reserve.Addr().(*net.TCPAddr).AddrPort()
	reserve.Close()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	p := TCP(l, target)
	defer p.Close()
	c, err := net.DialTimeout("tcp6", l.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("hi\n"))
	time.Sleep(300 * time.Millisecond)
	backend, err := net.Listen("tcp4", target.String())
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		s, err := backend.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		line, _ := bufio.NewReader(s).ReadString('\n')
		s.Write([]byte("echo " + line))
	}()
	got, err := bufio.NewReader(c).ReadString('\n')
	if got != "echo hi\n" {
		t.Fatalf("a client connected before the server listened got %q, %v", got, err)
	}

	// Nothing ever listens: the client is let go, within the bound.
	backend.Close()
	c2, err := net.DialTimeout("tcp6", l.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	start := time.Now()
	c2.SetReadDeadline(start.Add(refusedWait + 3*time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("a connection to a server that never listens was kept: %v", err)
	}
	if d := time.Since(start); d < refusedWait/2 {
		t.Fatalf("let go after %v: no retry", d)
	}
}
