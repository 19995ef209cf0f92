package daemon

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/jsonlog"
)

// The framing and LogEntry encoding a log plugin decodes with the
// protobuf library: checked byte for byte.
func TestAppendLogEntry(t *testing.T) {
	e := &jsonlog.Entry{Stream: "stdout", Time: time.Unix(1, 5), Log: []byte("hi\n")}
	msg := []byte{
		0x0a, 6, 's', 't', 'd', 'o', 'u', 't', // source = 1
		0x10, 0x85, 0x94, 0xeb, 0xdc, 0x03, // time_nano = 2: 1000000005
		0x1a, 2, 'h', 'i', // line = 3, without its newline
	}
	want := append([]byte{0, 0, 0, byte(len(msg))}, msg...)
	if got := appendLogEntry(nil, e); !bytes.Equal(got, want) {
		t.Fatalf("full line:\n got % x\nwant % x", got, want)
	}
	// A line without its newline is partial (partial = 4).
	e.Log = []byte("hi")
	msg = append(msg, 0x20, 1)
	want = append([]byte{0, 0, 0, byte(len(msg))}, msg...)
	if got := appendLogEntry([]byte("prefix"), e); !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
		t.Fatalf("partial line:\n got % x\nwant % x", got, want)
	}
}

func TestCheckLogDriverBuiltins(t *testing.T) {
	d := &Daemon{}
	for _, n := range []string{"", "json-file", "local", "none"} {
		if err := d.checkLogDriver(context.Background(), n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
}
