package fluentd

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/berthd/berth/daemon/logger"
)

// decodeEvent reads one [tag, time, record] event as a forward input does.
func decodeEvent(t *testing.T, dec *msgpack.Decoder) (string, any, map[string]string) {
	t.Helper()
	var ev []msgpack.RawMessage
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	if len(ev) != 3 {
		t.Fatalf("event of %d elements", len(ev))
	}
	var tag string
	var rec map[string]string
	var when any
	msgpack.Unmarshal(ev[0], &tag)
	msgpack.Unmarshal(ev[2], &rec)
	if err := msgpack.Unmarshal(ev[1], &when); err != nil {
		t.Fatal(err)
	}
	return tag, when, rec
}

func TestEncodeEvent(t *testing.T) {
	when := time.Unix(1700000000, 123456789)
	for _, sub := range []bool{false, true} {
		b, err := encodeEvent("web", when, map[string]string{"log": "hi"}, sub)
		if err != nil {
			t.Fatal(err)
		}
		tag, got, rec := decodeEvent(t, msgpack.NewDecoder(strings.NewReader(string(b))))
		if tag != "web" || rec["log"] != "hi" {
			t.Fatalf("decoded %q %v", tag, rec)
		}
		if !sub {
			if got != int64(1700000000) && got != uint32(1700000000) {
				t.Fatalf("time %T %v; want whole seconds", got, got)
			}
			continue
		}
		et, ok := got.(*eventTime)
		if !ok || !time.Time(*et).Equal(when) {
			t.Fatalf("time %T %v; want EventTime %v", got, got, when)
		}
	}
	// The EventTime's wire form: ext 0, 8 bytes (fixext8 0xd7).
	b, _ := encodeEvent("t", time.Unix(1, 2), nil, true)
	if !strings.Contains(string(b), "\xd7\x00\x00\x00\x00\x01\x00\x00\x00\x02") {
		t.Fatalf("EventTime not as the forward protocol's: % x", b)
	}
}

// TestAsyncAndBufferLimit: with fluentd-async a missing receiver delays
// events, up to fluentd-buffer-limit bytes, and they arrive once it
// listens, over a unix socket.
func TestAsyncAndBufferLimit(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "fluent.sock")
	l, err := New(logger.Info{Config: map[string]string{"fluentd-address": "unix://" + sock, "fluentd-async": "true",
		"fluentd-buffer-limit": "300", "fluentd-retry-wait": "20ms", "tag": "{{.Name}}"},
		ContainerID: strings.Repeat("b", 64), ContainerName: "/named"})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(s string) *logger.Message {
		return &logger.Message{Line: []byte(s), Source: "stdout", Time: time.Now()}
	}
	if err := l.Log(msg("first")); err != nil {
		t.Fatal(err)
	}
	var full error
	for i := 0; i < 10 && full == nil; i++ {
		full = l.Log(msg("more"))
	}
	if full == nil || !strings.Contains(full.Error(), "Buffer full") {
		t.Fatalf("past the buffer limit: %v", full)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	tag, _, rec := decodeEvent(t, msgpack.NewDecoder(c))
	if tag != "named" || rec["log"] != "first" || rec["container_name"] != "/named" || rec["source"] != "stdout" {
		t.Fatalf("first event: %q %v", tag, rec)
	}
	l.Close()
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		opts map[string]string
		err  string
	}{
		{map[string]string{"fluentd-address": "ftp://x"}, "invalid fluentd-address (ftp://x): unsupported scheme: 'ftp'"},
		{map[string]string{"fluentd-address": "unix://"}, "invalid fluentd-address (unix://): path is empty"},
		{map[string]string{"fluentd-max-retries": "99999999999"}, `strconv.ParseUint: parsing "99999999999": value out of range`},
		{map[string]string{"fluentd-async": "perhaps"}, `strconv.ParseBool: parsing "perhaps": invalid syntax`},
		{map[string]string{"fluentd-tag": "x"}, "unknown log opt 'fluentd-tag' for fluentd log driver"},
		{map[string]string{"fluentd-address": "localhost:24224", "fluentd-retry-wait": "2s", "fluentd-sub-second-precision": "true", "env": "A"}, ""},
	} {
		err := Validate(c.opts)
		if c.err == "" && err != nil || c.err != "" && (err == nil || err.Error() != c.err) {
			t.Errorf("%v: %v; want %q", c.opts, err, c.err)
		}
	}
}
