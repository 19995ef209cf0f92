package logging

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// eventTime decodes the forward protocol's EventTime (msgpack ext 0).
type eventTime struct{ time.Time }

func init() { msgpack.RegisterExt(0, (*eventTime)(nil)) }

func (e *eventTime) UnmarshalMsgpack(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("EventTime of %d bytes", len(b))
	}
	e.Time = time.Unix(int64(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint32(b[4:])))
	return nil
}

func (e *eventTime) MarshalMsgpack() ([]byte, error) { return nil, fmt.Errorf("not sent by tests") }

// fluentEvent decodes one event: [tag, time, record].
func fluentEvent(t *testing.T, raw []byte) (string, any, map[string]string) {
	t.Helper()
	var ev []any
	if err := msgpack.Unmarshal(raw, &ev); err != nil || len(ev) != 3 {
		t.Fatalf("event %x: %v", raw, err)
	}
	tag, _ := ev[0].(string)
	rec := map[string]string{}
	m, _ := ev[2].(map[string]any)
	for k, v := range m {
		rec[k], _ = v.(string)
	}
	return tag, ev[1], rec
}

// TestFluentd: events reach a forward input over tcp and a unix socket
// with dockerd's record, the tag template, the chosen labels and env, and
// the time in whole seconds or, with fluentd-sub-second-precision, as an
// EventTime.
func TestFluentd(t *testing.T) {
	for _, c := range []struct {
		proto     string
		subSecond bool
	}{{"tcp", false}, {"unix", true}} {
		t.Run(c.proto, func(t *testing.T) {
			r := fluentReceiver(t, c.proto)
			name := "fluent-" + c.proto
			opts := []string{"fluentd-address=" + r.addr, "labels=team", "env=STAGE", "tag=docker.{{.Name}}",
				fmt.Sprintf("fluentd-sub-second-precision=%t", c.subSecond)}
			before := time.Now()
			runLogged(t, name, "fluentd", opts, "echo out-line; echo err-line >&2")
			after := time.Now()
			tag, when, rec := fluentEvent(t, r.waitFor(t, "out-line"))
			id := strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.Id}}", name))
			if tag != "docker."+name {
				t.Errorf("tag %q", tag)
			}
			for k, want := range map[string]string{"log": "out-line", "source": "stdout", "container_id": id,
				"container_name": "/" + name, "team": "core", "STAGE": "prod"} {
				if rec[k] != want {
					t.Errorf("%s = %q; want %q (all: %v)", k, rec[k], want, rec)
				}
			}
			var at time.Time
			if et, ok := when.(*eventTime); ok {
				if !c.subSecond {
					t.Errorf("an EventTime without fluentd-sub-second-precision")
				}
				at = et.Time
			} else {
				v := reflect.ValueOf(when)
				switch {
				case v.CanInt():
					at = time.Unix(v.Int(), 0)
				case v.CanUint():
					at = time.Unix(int64(v.Uint()), 0)
				default:
					t.Fatalf("time of type %T", when)
				}
				if c.subSecond {
					t.Errorf("whole seconds (%T) with fluentd-sub-second-precision", when)
				}
			}
			if at.Before(before.Truncate(time.Second)) || at.After(after) {
				t.Errorf("time %v not between %v and %v", at, before, after)
			}
			if _, _, rec := fluentEvent(t, r.waitFor(t, "err-line")); rec["source"] != "stderr" {
				t.Errorf("stderr event %v", rec)
			}
			cacheHas(t, name, "out-line\n", "err-line\n")
		})
	}
}

// TestFluentdReceiverAway: without fluentd-async a container whose
// receiver is down does not start, as with dockerd; with it, it starts
// and its lines arrive once the receiver listens.
func TestFluentdReceiverAway(t *testing.T) {
	d.LoadTestImages(t)
	r := fluentReceiver(t, "unix")
	path := strings.TrimPrefix(r.addr, "unix://")
	away := "unix://" + path + ".away"
	t.Cleanup(func() { d.Docker("rm", "-f", "fluent-sync", "fluent-async") })
	dockerFails(t, "failed to initialize logging driver", "run", "--name", "fluent-sync", "--log-driver", "fluentd",
		"--log-opt", "fluentd-address="+away, "busybox", "true")

	d.DockerT(t, "run", "-d", "--name", "fluent-async", "--log-driver", "fluentd", "--log-opt", "fluentd-address="+away,
		"--log-opt", "fluentd-async=true", "--log-opt", "fluentd-retry-wait=100ms", "busybox", "sh", "-c", "echo early-line; sleep 30")
	// The receiver comes up at the address the container names.
	late := fluentReceiverAt(t, strings.TrimPrefix(away, "unix://"))
	if _, _, rec := fluentEvent(t, late.waitFor(t, "early-line")); rec["log"] != "early-line" {
		t.Fatalf("late event %v", rec)
	}
}

// TestFluentdPartial: a line longer than 16 KiB arrives in pieces marked
// as dockerd marks them (partial_message, one partial_id, ordinals, the
// last one last), which together give the line.
func TestFluentdPartial(t *testing.T) {
	r := fluentReceiver(t, "tcp")
	runLogged(t, "fluent-long", "fluentd", []string{"fluentd-address=" + r.addr}, "head -c 20000 /dev/zero | tr '\\0' a; echo")
	var line string
	var id string
	for i := 1; ; i++ {
		_, _, rec := fluentEvent(t, r.waitFor(t, "partial_ordinal"))
		if rec["partial_message"] != "true" || rec["partial_ordinal"] != fmt.Sprint(i) || id != "" && rec["partial_id"] != id {
			t.Fatalf("piece %d: %v", i, map[string]string{"id": rec["partial_id"], "ordinal": rec["partial_ordinal"], "last": rec["partial_last"]})
		}
		id = rec["partial_id"]
		line += rec["log"]
		if rec["partial_last"] == "true" {
			break
		}
	}
	if line != strings.Repeat("a", 20000) {
		t.Fatalf("the pieces make %d bytes", len(line))
	}
}
