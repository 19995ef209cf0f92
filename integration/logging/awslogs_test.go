package logging

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAWSLogs: the awslogs driver creates its group and stream and puts
// each line as an event, with its time in milliseconds, into a fake
// CloudWatch Logs on loopback (awslogs-endpoint), signing with the
// daemon's credentials (set in TestMain). No AWS service is involved.
func TestAWSLogs(t *testing.T) {
	r := newReceiver()
	made := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		auth := req.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=BERTHTESTKEY/") || !strings.Contains(auth, "/eu-west-1/logs/aws4_request") {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"__type":"UnrecognizedClientException","message":"bad credentials"}`)
			return
		}
		var body struct {
			LogGroupName, LogStreamName string
			LogEvents                   []json.RawMessage
		}
		json.NewDecoder(req.Body).Decode(&body)
		switch action := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "Logs_20140328."); action {
		case "CreateLogGroup", "CreateLogStream":
			made <- action + " " + body.LogGroupName + "/" + body.LogStreamName
		case "PutLogEvents":
			for _, e := range body.LogEvents {
				r.ch <- e
			}
		}
		io.WriteString(w, "{}")
	}))
	t.Cleanup(srv.Close)
	r.addr = srv.URL
	runLogged(t, "aws", "awslogs", []string{"awslogs-endpoint=" + srv.URL, "awslogs-region=eu-west-1", "awslogs-group=berth",
		"awslogs-create-group=true", "tag={{.Name}}"}, "echo out-line; echo err-line >&2")
	if got := []string{<-made, <-made}; got[0] != "CreateLogGroup berth/" || got[1] != "CreateLogStream berth/aws" {
		t.Errorf("created %q", got)
	}
	for _, line := range []string{"out-line", "err-line"} {
		var ev struct {
			Timestamp int64
			Message   string
		}
		json.Unmarshal(r.waitFor(t, `"message":"`+line+`"`), &ev)
		if ev.Timestamp < 1_700_000_000_000 {
			t.Errorf("event %+v: time not in milliseconds", ev)
		}
	}
	cacheHas(t, "aws", "out-line\n", "err-line\n")
	dockerFails(t, "must specify a value for log opt 'awslogs-group'", "create", "--log-driver", "awslogs", "busybox")
}
