package logger

import (
	"bufio"
	"errors"
	"net"
	"testing"
	"time"
)

// TestConnRedials: a write after the receiver dropped the connection goes
// out on a new one.
func TestConnRedials(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			got <- line
			c.Close() // one message per connection
		}
	}()
	c := &Conn{Dial: func() (net.Conn, error) { return net.Dial("tcp", l.Addr().String()) }}
	defer c.Close()
	for _, m := range []string{"one\n", "two\n"} {
		// The first write to a connection the peer closed may still
		// succeed locally: write until the message arrives.
		deadline := time.Now().Add(5 * time.Second)
		for {
			if err := c.Write([]byte(m), 3, func(int) time.Duration { return 10 * time.Millisecond }); err != nil {
				t.Fatal(err)
			}
			select {
			case line := <-got:
				if line != m {
					t.Fatalf("received %q; want %q", line, m)
				}
			case <-time.After(200 * time.Millisecond):
				if time.Now().Before(deadline) {
					continue
				}
				t.Fatalf("%q never arrived", m)
			}
			break
		}
	}
}

// TestConnCloseEndsRetries: Close cuts short a write that waits between
// attempts at an absent receiver, and later writes fail at once.
func TestConnCloseEndsRetries(t *testing.T) {
	c := &Conn{Dial: func() (net.Conn, error) { return nil, errors.New("away") }}
	done := make(chan error, 1)
	go func() { done <- c.Write([]byte("x"), 1000, func(int) time.Duration { return time.Hour }) }()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a write to an absent receiver succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the write's pause")
	}
	if err := c.Write([]byte("y"), 0, nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
}
