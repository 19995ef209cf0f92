package daemon

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
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

func TestCheckLogConfigBuiltins(t *testing.T) {
	d := &Daemon{}
	for _, n := range []string{"", "json-file", "local", "none", "journald"} {
		if err := d.checkLogConfig(context.Background(), n, nil); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	// The built-in remote drivers refuse what they do not know at
	// create, with dockerd's words and a 400.
	for _, c := range []struct {
		driver string
		opts   map[string]string
		err    string
	}{
		{"syslog", map[string]string{"syslog-adress": "udp://127.0.0.1"}, "unknown log opt 'syslog-adress' for syslog log driver"},
		{"gelf", nil, "gelf-address is a required parameter"},
		{"fluentd", map[string]string{"mode": "non-blocking", "max-buffer-size": "1m", "fluentd-foo": "1"}, "unknown log opt 'fluentd-foo' for fluentd log driver"},
		{"journald", map[string]string{"max-buffer-size": "1m"}, "logger: max-buffer-size option is only supported with 'mode=non-blocking'"},
		{"syslog", map[string]string{"cache-disabled": "perhaps"}, "invalid value for option cache-disabled: perhaps"},
	} {
		err := d.checkLogConfig(context.Background(), c.driver, c.opts)
		if err == nil || err.Error() != c.err || !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%s %v: %v; want %q", c.driver, c.opts, err, c.err)
		}
	}
}

// TestAppendDetails: dockerd's --details prefix, sorted and escaped.
func TestAppendDetails(t *testing.T) {
	got := appendDetails(nil, map[string]string{"team": "core ops", "a": "1"}, map[string]string{"b": "x=y"})
	if string(got) != "a=1,b=x%3Dy,team=core+ops " {
		t.Fatalf("%q", got)
	}
	if got := appendDetails(nil, nil, nil); string(got) != " " {
		t.Fatalf("no attributes: %q", got)
	}
}

// TestPartialLines: the pieces of a split line are numbered per stream,
// as dockerd's copier numbers them; whole lines carry nothing.
func TestPartialLines(t *testing.T) {
	var p partialLines
	if p.next("stdout", true) != nil {
		t.Fatal("a whole line is partial")
	}
	a := p.next("stdout", false)
	b := p.next("stderr", false)
	c := p.next("stdout", false)
	d := p.next("stdout", true)
	if a.Ordinal != 1 || c.Ordinal != 2 || d.Ordinal != 3 || !d.Last || a.Last || c.ID != a.ID || d.ID != a.ID || b.ID == a.ID || b.Ordinal != 1 {
		t.Fatalf("pieces %+v %+v %+v %+v", a, b, c, d)
	}
	if e := p.next("stdout", false); e.ID == a.ID || e.Ordinal != 1 {
		t.Fatalf("the next split line continues the last: %+v", e)
	}
}
