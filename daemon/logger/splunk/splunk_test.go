package splunk

import (
	"compress/gzip"
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

// collector is a fake HTTP Event Collector: it records each event posted
// with the right token.
type collector struct {
	mu     sync.Mutex
	events []map[string]any
	gzip   bool
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		return
	}
	if r.URL.Path != "/services/collector/event/1.0" || r.Header.Get("Authorization") != "Splunk secret" {
		http.Error(w, `{"text":"Invalid token","code":4}`, http.StatusForbidden)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	dec := json.NewDecoder(body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gzip = r.Header.Get("Content-Encoding") == "gzip"
	for {
		var ev map[string]any
		if err := dec.Decode(&ev); err != nil {
			break
		}
		c.events = append(c.events, ev)
	}
}

func TestFormats(t *testing.T) {
	when := time.Unix(1700000000, 500000000)
	for _, c := range []struct {
		format, gzip string
		line         string
		want         string // the event as JSON
	}{
		{"inline", "false", `{"a":1}`, `{"attrs":{"team":"core"},"line":"{\"a\":1}","source":"stdout","tag":"web"}`},
		{"json", "true", `{"a":1}`, `{"attrs":{"team":"core"},"line":{"a":1},"source":"stdout","tag":"web"}`},
		{"json", "false", `not json`, `{"attrs":{"team":"core"},"line":"not json","source":"stdout","tag":"web"}`},
		{"raw", "false", `plain`, `"web team=core plain"`},
	} {
		col := &collector{}
		srv := httptest.NewServer(col)
		l, err := New(logger.Info{Config: map[string]string{"splunk-url": srv.URL, "splunk-token": "secret", "splunk-format": c.format,
			"splunk-gzip": c.gzip, "splunk-index": "main", "tag": "web", "labels": "team"},
			ContainerID: strings.Repeat("d", 64), ContainerLabels: map[string]string{"team": "core"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Log(&logger.Message{Line: []byte(c.line), Source: "stdout", Time: when}); err != nil {
			t.Fatal(err)
		}
		l.Close() // posts what is queued
		srv.Close()
		if len(col.events) != 1 {
			t.Fatalf("%s: %d events", c.format, len(col.events))
		}
		ev := col.events[0]
		got, _ := json.Marshal(ev["event"])
		if string(got) != c.want || ev["time"] != "1700000000.500000" || ev["index"] != "main" || col.gzip != (c.gzip == "true") {
			t.Errorf("%s: event %s; want %s (all: %v, gzip %v)", c.format, got, c.want, ev, col.gzip)
		}
	}
}

func TestRefusals(t *testing.T) {
	srv := httptest.NewServer(&collector{})
	defer srv.Close()
	for _, c := range []struct {
		opts map[string]string
		err  string
	}{
		{map[string]string{"splunk-token": "x"}, "splunk: splunk-url is expected"},
		{map[string]string{"splunk-url": srv.URL}, "splunk: splunk-token is expected"},
		{map[string]string{"splunk-url": srv.URL + "/path", "splunk-token": "x"}, "splunk: expected format scheme://dns_name_or_ip:port for splunk-url"},
		{map[string]string{"splunk-url": srv.URL, "splunk-token": "x", "splunk-format": "xml"}, "unknown format specified xml, supported formats are inline, json and raw"},
	} {
		if _, err := New(logger.Info{Config: c.opts, ContainerID: strings.Repeat("d", 64)}); err == nil || err.Error() != c.err {
			t.Errorf("%v: %v; want %q", c.opts, err, c.err)
		}
	}
	if err := Validate(map[string]string{"splunk-bogus": "1"}); err == nil || err.Error() != "unknown log opt 'splunk-bogus' for splunk log driver" {
		t.Errorf("Validate: %v", err)
	}
}
