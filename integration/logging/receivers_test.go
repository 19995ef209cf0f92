package logging

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// receiver collects what a listener received, one message at a time.
type receiver struct {
	ch   chan []byte
	addr string   // what the driver's address option names
	kept [][]byte // received, not yet asked for
}

func newReceiver() *receiver { return &receiver{ch: make(chan []byte, 1000)} }

// waitFor returns the first message containing want, failing the test
// after 15 s. Messages it passes over stay for the next call: stdout and
// stderr are separate pipes, so their lines may come in either order.
func (r *receiver) waitFor(t *testing.T, want string) []byte {
	t.Helper()
	for i, m := range r.kept {
		if bytes.Contains(m, []byte(want)) {
			r.kept = append(r.kept[:i], r.kept[i+1:]...)
			return m
		}
	}
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-r.ch:
			if bytes.Contains(m, []byte(want)) {
				return m
			}
			r.kept = append(r.kept, m)
		case <-deadline:
			var seen []string
			for _, m := range r.kept {
				seen = append(seen, string(m))
			}
			t.Fatalf("no message with %q at %s; received %q", want, r.addr, seen)
			return nil
		}
	}
}

// acceptEach serves every connection of l with read until l closes.
func acceptEach(t *testing.T, l net.Listener, read func(net.Conn)) {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				read(c)
			}()
		}
	}()
}

// readPackets delivers each datagram of pc, through decode.
func readPackets(t *testing.T, pc net.PacketConn, r *receiver, decode func([]byte) []byte) {
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1<<20)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if m := decode(append([]byte(nil), buf[:n]...)); m != nil {
				r.ch <- m
			}
		}
	}()
}

func same(b []byte) []byte { return b }

// syslogReceiver listens on proto ("udp", "tcp", "tcp+tls", "unix" or
// "unixgram") and returns the syslog-address for it. Stream messages end
// with a newline, or are octet-counted ("LEN msg") when octets is set.
func syslogReceiver(t *testing.T, proto string, tlsConfig *tls.Config, octets bool) *receiver {
	r := newReceiver()
	switch proto {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		readPackets(t, pc, r, same)
		r.addr = "udp://" + pc.LocalAddr().String()
	case "unixgram":
		path := filepath.Join(t.TempDir(), "syslog.sock")
		pc, err := net.ListenPacket("unixgram", path)
		if err != nil {
			t.Fatal(err)
		}
		readPackets(t, pc, r, same)
		r.addr = "unixgram://" + path
	default:
		var (
			l   net.Listener
			err error
		)
		switch proto {
		case "unix":
			path := filepath.Join(t.TempDir(), "syslog.sock")
			l, err = net.Listen("unix", path)
			r.addr = "unix://" + path
		case "tcp+tls":
			l, err = tls.Listen("tcp", "127.0.0.1:0", tlsConfig)
		default:
			l, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.addr == "" {
			r.addr = proto + "://" + l.Addr().String()
		}
		acceptEach(t, l, func(c net.Conn) {
			br := bufio.NewReader(c)
			for {
				var msg []byte
				if octets {
					n, err := br.ReadString(' ')
					if err != nil {
						return
					}
					size, err := strconv.Atoi(strings.TrimSpace(n))
					if err != nil {
						t.Errorf("octet count %q", n)
						return
					}
					msg = make([]byte, size)
					if _, err := io.ReadFull(br, msg); err != nil {
						return
					}
				} else if msg, err = br.ReadBytes('\n'); err != nil {
					return
				}
				r.ch <- msg
			}
		})
	}
	return r
}

// gelfReceiver listens for GELF on udp (reassembling chunks and
// decompressing) or tcp (null-delimited). Each message is its JSON after
// how it came: "tcp|", "none|", "gzip|", "zlib|", and "chunked+" before
// the compression of a message that came in chunks.
func gelfReceiver(t *testing.T, proto string) *receiver {
	r := newReceiver()
	if proto == "tcp" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r.addr = "tcp://" + l.Addr().String()
		acceptEach(t, l, func(c net.Conn) {
			br := bufio.NewReader(c)
			for {
				msg, err := br.ReadBytes(0)
				if err != nil {
					return
				}
				r.ch <- append([]byte("tcp|"), msg[:len(msg)-1]...)
			}
		})
		return r
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = "udp://" + pc.LocalAddr().String()
	pending := map[string][][]byte{}
	readPackets(t, pc, r, func(b []byte) []byte {
		if len(b) < 12 || b[0] != 0x1e || b[1] != 0x0f {
			return gelfDecompress(t, b)
		}
		id, seq, count := string(b[2:10]), int(b[10]), int(b[11])
		if pending[id] == nil {
			pending[id] = make([][]byte, count)
		}
		pending[id][seq] = b[12:]
		var whole []byte
		for _, part := range pending[id] {
			if part == nil {
				return nil
			}
			whole = append(whole, part...)
		}
		delete(pending, id)
		return append([]byte("chunked+"), gelfDecompress(t, whole)...)
	})
	return r
}

// gelfDecompress reads a GELF payload as Graylog does, by its first bytes.
func gelfDecompress(t *testing.T, b []byte) []byte {
	var (
		rd   io.ReadCloser
		err  error
		kind string
	)
	switch {
	case len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b:
		kind = "gzip|"
		rd, err = gzip.NewReader(bytes.NewReader(b))
	case len(b) > 2 && b[0] == 0x78:
		kind = "zlib|"
		rd, err = zlib.NewReader(bytes.NewReader(b))
	default:
		return append([]byte("none|"), b...)
	}
	if err != nil {
		t.Errorf("gelf payload: %v", err)
		return nil
	}
	defer rd.Close()
	out, err := io.ReadAll(rd)
	if err != nil {
		t.Errorf("gelf payload: %v", err)
	}
	return append([]byte(kind), out...)
}

// fluentReceiver is a fluentd forward input on tcp or a unix socket; each
// message is one event as msgpack.
func fluentReceiver(t *testing.T, proto string) *receiver {
	if proto == "unix" {
		return fluentReceiverAt(t, filepath.Join(t.TempDir(), "fluent.sock"))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFluent(t, l, "tcp://"+l.Addr().String())
}

// fluentReceiverAt is a forward input on the unix socket at path.
func fluentReceiverAt(t *testing.T, path string) *receiver {
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return serveFluent(t, l, "unix://"+path)
}

func serveFluent(t *testing.T, l net.Listener, addr string) *receiver {
	r := newReceiver()
	r.addr = addr
	acceptEach(t, l, func(c net.Conn) {
		dec := msgpack.NewDecoder(c)
		for {
			raw, err := dec.DecodeRaw()
			if err != nil {
				return
			}
			r.ch <- raw
		}
	})
	return r
}
