package gelf

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/daemon/logger"
)

func TestAppendMessage(t *testing.T) {
	when := time.Date(2026, 1, 2, 3, 4, 5, 678900000, time.UTC)
	b := appendMessage(nil, "box", []byte(`say "hi"`), when, 3, []byte(`{"_tag":"web","_team":"core"}`))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := map[string]any{"version": "1.1", "host": "box", "short_message": `say "hi"`, "timestamp": 1767323045.678, "level": 3.0, "_tag": "web", "_team": "core"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v; want %v (all: %s)", k, m[k], v, b)
		}
	}
}

// TestChunks: a message bigger than a datagram is split into numbered
// chunks under one ID, which put back together give the message.
func TestChunks(t *testing.T) {
	small := []byte("x")
	if c, _ := chunks(small); len(c) != 1 || !bytes.Equal(c[0], small) {
		t.Fatalf("a small message is chunked: %q", c)
	}
	big := make([]byte, 5000)
	rand.Read(big)
	c, err := chunks(big)
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 4 {
		t.Fatalf("%d chunks; want 4", len(c))
	}
	var whole []byte
	for i, d := range c {
		if len(d) > chunkSize || d[0] != 0x1e || d[1] != 0x0f || int(d[10]) != i || d[11] != 4 || !bytes.Equal(d[2:10], c[0][2:10]) {
			t.Fatalf("chunk %d header % x", i, d[:12])
		}
		whole = append(whole, d[12:]...)
	}
	if !bytes.Equal(whole, big) {
		t.Fatal("chunks do not reassemble the message")
	}
	if _, err := chunks(make([]byte, chunkDataLen*maxChunks+1)); err == nil {
		t.Fatal("a message of more than 128 chunks is sent")
	}
}

func TestCompress(t *testing.T) {
	msg := []byte(strings.Repeat("gelf ", 100))
	for _, c := range []compression{compressGzip, compressZlib, compressNone} {
		z, err := compress(msg, c, defaultLevel)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = bytes.NewReader(z)
		switch c {
		case compressGzip:
			r, err = gzip.NewReader(r)
		case compressZlib:
			r, err = zlib.NewReader(r)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		if !bytes.Equal(got, msg) {
			t.Fatalf("compression %d does not round-trip", c)
		}
	}
}

// TestUDP: the driver's datagrams reach a listener on loopback.
func TestUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := New(logger.Info{Config: map[string]string{"gelf-address": "udp://" + pc.LocalAddr().String(), "gelf-compression-type": "none"},
		ContainerID: strings.Repeat("a", 64), ContainerName: "/c"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Log(&logger.Message{Line: []byte("hello"), Source: "stdout", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2000)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf[:n], &m); err != nil || m["short_message"] != "hello" || m["_container_name"] != "c" || m["_tag"] != "aaaaaaaaaaaa" {
		t.Fatalf("%s: %v", buf[:n], err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		opts map[string]string
		err  string
	}{
		{map[string]string{}, "gelf-address is a required parameter"},
		{map[string]string{"gelf-address": "http://x:1"}, "gelf: endpoint needs to be TCP or UDP"},
		{map[string]string{"gelf-address": "udp://x"}, "gelf: please provide gelf-address as proto://host:port"},
		{map[string]string{"gelf-address": "tcp://x:1", "gelf-compression-type": "gzip"}, "compression is only supported on UDP"},
		{map[string]string{"gelf-address": "udp://x:1", "gelf-compression-type": "lz4"}, `unknown value "lz4" for log opt "gelf-compression-type" for gelf log driver`},
		{map[string]string{"gelf-address": "udp://x:1", "gelf-compression-level": "12"}, `unknown value "12" for log opt "gelf-compression-level" for gelf log driver`},
		{map[string]string{"gelf-address": "udp://x:1", "gelf-tcp-max-reconnect": "1"}, `"gelf-tcp-max-reconnect" is only valid for TCP`},
		{map[string]string{"gelf-address": "udp://x:1", "gelf-foo": "1"}, `unknown log opt "gelf-foo" for gelf log driver`},
		{map[string]string{"gelf-address": "udp://x:1", "gelf-compression-level": "9", "tag": "t", "labels": "a"}, ""},
	} {
		err := Validate(c.opts)
		if c.err == "" && err != nil || c.err != "" && (err == nil || err.Error() != c.err) {
			t.Errorf("%v: %v; want %q", c.opts, err, c.err)
		}
	}
}
