package logging

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestSplunk: events reach a fake HTTP Event Collector on loopback, with
// the token, the tag, the chosen attributes and the line; the container's
// end posts what is queued. No Splunk service is involved.
func TestSplunk(t *testing.T) {
	r := newReceiver()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodOptions {
			return // the connection check before the start
		}
		if req.URL.Path != "/services/collector/event/1.0" || req.Header.Get("Authorization") != "Splunk s3cret" {
			http.Error(w, `{"text":"Invalid token","code":4}`, http.StatusForbidden)
			return
		}
		dec := json.NewDecoder(req.Body)
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				if err != io.EOF {
					t.Errorf("collector: %v", err)
				}
				return
			}
			r.ch <- raw
		}
	}))
	t.Cleanup(srv.Close)
	r.addr = srv.URL
	runLogged(t, "spl", "splunk", []string{"splunk-url=" + srv.URL, "splunk-token=s3cret", "splunk-source=test",
		"labels=team", "env=STAGE", "tag={{.Name}}"}, "echo out-line; echo err-line >&2")
	for _, want := range []struct{ line, source string }{{"out-line", "stdout"}, {"err-line", "stderr"}} {
		var ev struct {
			Event struct {
				Line, Source, Tag string
				Attrs             map[string]string
			}
			Source, Host, Time string
		}
		if err := json.Unmarshal(r.waitFor(t, `"line":"`+want.line+`"`), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Event.Source != want.source || ev.Event.Tag != "spl" || ev.Event.Attrs["team"] != "core" || ev.Event.Attrs["STAGE"] != "prod" ||
			ev.Source != "test" || ev.Host == "" || !strings.Contains(ev.Time, ".") {
			t.Errorf("event %+v", ev)
		}
	}
	cacheHas(t, "spl", "out-line\n", "err-line\n")
	// A collector that does not answer fails the start, as with dockerd.
	away := fmt.Sprintf("http://127.0.0.1:%d", harness.FreePort(t))
	dockerFails(t, "failed to initialize logging driver", "run", "--rm", "--log-driver", "splunk", "--log-opt", "splunk-url="+away,
		"--log-opt", "splunk-token=s3cret", "busybox", "true")
}
