package awslogs

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthd/berth/daemon/logger"
)

// fakeLogs is a fake CloudWatch Logs: it checks each request's signature
// by signing it again, keeps groups and streams, and records events.
type fakeLogs struct {
	t       *testing.T
	mu      sync.Mutex
	groups  map[string]bool
	streams map[string]bool
	events  []inputEvent
	format  string
}

func (f *fakeLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		LogGroupName  string `json:"logGroupName"`
		LogStreamName string `json:"logStreamName"`
		LogEvents     []inputEvent
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Error(err)
	}
	json.Unmarshal(raw, &body)
	at, _ := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	again := r.Clone(r.Context())
	again.URL.Host = r.Host
	sign(again, raw, credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, "eu-west-1", at)
	if got, want := r.Header.Get("Authorization"), again.Header.Get("Authorization"); got != want || !strings.Contains(got, "Credential=AKID/") {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"__type":"InvalidSignatureException","message":"bad signature"}`))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fail := func(typ string) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": typ})
	}
	switch r.Header.Get("X-Amz-Target") {
	case "Logs_20140328.CreateLogGroup":
		if f.groups[body.LogGroupName] {
			fail("ResourceAlreadyExistsException")
			return
		}
		f.groups[body.LogGroupName] = true
	case "Logs_20140328.CreateLogStream":
		if !f.groups[body.LogGroupName] {
			fail("ResourceNotFoundException")
			return
		}
		f.streams[body.LogGroupName+"/"+body.LogStreamName] = true
	case "Logs_20140328.PutLogEvents":
		if !f.streams[body.LogGroupName+"/"+body.LogStreamName] {
			fail("ResourceNotFoundException")
			return
		}
		f.events = append(f.events, body.LogEvents...)
		f.format = r.Header.Get("x-amzn-logs-format")
	default:
		fail("UnknownOperationException")
		return
	}
	w.Write([]byte("{}"))
}

func newFake(t *testing.T) (*fakeLogs, *httptest.Server) {
	f := &fakeLogs{t: t, groups: map[string]bool{}, streams: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	return f, srv
}

func TestPutsEvents(t *testing.T) {
	f, srv := newFake(t)
	l, err := New(logger.Info{Config: map[string]string{"awslogs-region": "eu-west-1", "awslogs-endpoint": srv.URL,
		"awslogs-group": "g", "awslogs-create-group": "true", "tag": "{{.Name}}"}, ContainerID: strings.Repeat("e", 64), ContainerName: "/web"})
	if err != nil {
		t.Fatal(err)
	}
	when := time.UnixMilli(1700000000123)
	for _, line := range []string{"one", "", "two"} {
		if err := l.Log(&logger.Message{Line: []byte(line), Source: "stdout", Time: when}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !f.streams["g/web"] || len(f.events) != 2 || f.events[0] != (inputEvent{1700000000123, "one"}) || f.events[1].Message != "two" {
		t.Fatalf("streams %v, events %v", f.streams, f.events)
	}
}

func TestMultiline(t *testing.T) {
	f, srv := newFake(t)
	f.groups["g"] = true
	l, err := New(logger.Info{Config: map[string]string{"awslogs-region": "eu-west-1", "awslogs-endpoint": srv.URL,
		"awslogs-group": "g", "awslogs-datetime-format": "%Y-%m-%d", "awslogs-stream": "s"}, ContainerID: strings.Repeat("e", 64)})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"2026-01-02 boom", "  at frame 1", "  at frame 2", "2026-01-02 next"} {
		l.Log(&logger.Message{Line: []byte(line), Source: "stderr", Time: time.Now()})
	}
	l.Close()
	if len(f.events) != 2 || f.events[0].Message != "2026-01-02 boom\n  at frame 1\n  at frame 2\n" || f.events[1].Message != "2026-01-02 next\n" {
		t.Fatalf("events %+v", f.events)
	}
}

func TestRefusals(t *testing.T) {
	_, srv := newFake(t)
	// The group does not exist and may not be made: the start fails.
	_, err := New(logger.Info{Config: map[string]string{"awslogs-region": "eu-west-1", "awslogs-endpoint": srv.URL, "awslogs-group": "none"},
		ContainerID: strings.Repeat("e", 64)})
	if !isType(err, "ResourceNotFoundException") {
		t.Errorf("stream in a missing group: %v", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := New(logger.Info{Config: map[string]string{"awslogs-region": "r", "awslogs-group": "g"}}); err == nil || !strings.Contains(err.Error(), "no AWS credentials") {
		t.Errorf("without credentials: %v", err)
	}
	for opts, want := range map[string]string{
		"":                              "must specify a value for log opt 'awslogs-group'",
		"awslogs-bogus=1":               "unknown log opt 'awslogs-bogus' for awslogs log driver",
		"awslogs-create-group=perhaps":  "must specify valid value for log opt 'awslogs-create-group'",
		"awslogs-max-buffered-events=0": "must specify a positive integer for log opt 'awslogs-max-buffered-events': 0",
		"awslogs-format=xml":            "unsupported log format 'xml'",
	} {
		cfg := map[string]string{}
		if k, v, ok := strings.Cut(opts, "="); ok {
			cfg[k] = v
			cfg["awslogs-group"] = "g"
		}
		if err := Validate(cfg); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v; want %q", opts, err, want)
		}
	}
}
