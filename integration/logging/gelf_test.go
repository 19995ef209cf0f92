package logging

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// gelfMessage splits a gelfReceiver message into how it came and its
// fields.
func gelfMessage(t *testing.T, m []byte) (string, map[string]any) {
	t.Helper()
	how, body, _ := strings.Cut(string(m), "|")
	var fields map[string]any
	if err := json.Unmarshal([]byte(body), &fields); err != nil {
		t.Fatalf("GELF message %q: %v", m, err)
	}
	return how, fields
}

// TestGelf: each transport and compression delivers GELF 1.1 messages
// with dockerd's fields, the labels and env the options choose, the
// level of the stream and the time of the line; a line bigger than a
// datagram arrives in chunks.
func TestGelf(t *testing.T) {
	host, _ := os.Hostname()
	for _, c := range []struct{ proto, compression, how string }{
		{"udp", "", "gzip"},
		{"udp", "zlib", "zlib"},
		{"udp", "none", "none"},
		{"tcp", "", "tcp"},
	} {
		t.Run(c.proto+"-"+c.how, func(t *testing.T) {
			r := gelfReceiver(t, c.proto)
			name := "gelf-" + c.how
			opts := []string{"gelf-address=" + r.addr, "labels=team", "env=STAGE", "tag={{.Name}}"}
			if c.compression != "" {
				opts = append(opts, "gelf-compression-type="+c.compression)
			}
			before := time.Now()
			// The long line: 3000 random bytes as hex, which compresses to
			// more than one datagram.
			runLogged(t, name, "gelf", opts, "echo out-line; echo err-line >&2; head -c 3000 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo")
			after := time.Now()
			how, m := gelfMessage(t, r.waitFor(t, `"short_message":"out-line"`))
			if how != c.how {
				t.Errorf("came as %q; want %q", how, c.how)
			}
			id := strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.Id}}", name))
			for k, want := range map[string]any{
				"version": "1.1", "host": host, "short_message": "out-line", "level": 6.0,
				"_container_id": id, "_container_name": name, "_image_name": "busybox", "_tag": name,
				"_team": "core", "_STAGE": "prod",
			} {
				if m[k] != want {
					t.Errorf("%s = %v; want %v (all: %v)", k, m[k], want, m)
				}
			}
			if ts, _ := m["timestamp"].(float64); ts < float64(before.Unix())-1 || ts > float64(after.Unix())+1 {
				t.Errorf("timestamp %v not between %v and %v", m["timestamp"], before, after)
			}
			if _, m := gelfMessage(t, r.waitFor(t, `"short_message":"err-line"`)); m["level"] != 3.0 {
				t.Errorf("stderr level %v; want 3", m["level"])
			}
			how, m = gelfMessage(t, r.waitFor(t, `"short_message":"`+longPrefix(t, name)))
			if s, _ := m["short_message"].(string); len(s) != 6000 {
				t.Errorf("long line of %d characters; want 6000", len(s))
			}
			if c.proto == "udp" && c.how != "none" && !strings.HasPrefix(how, "chunked+") {
				t.Errorf("a long line came as %q, not in chunks", how)
			}
			cacheHas(t, name, "out-line\n", "err-line\n")
		})
	}
}

// longPrefix is the first 20 characters of the container's long line,
// read from the cache.
func longPrefix(t *testing.T, name string) string {
	t.Helper()
	for _, l := range strings.Split(d.DockerT(t, "logs", name), "\n") {
		if len(l) == 6000 {
			return l[:20]
		}
	}
	t.Fatalf("no long line in docker logs %s", name)
	return ""
}

// TestGelfRefusals: dockerd's words for what the gelf driver refuses.
func TestGelfRefusals(t *testing.T) {
	d.LoadTestImages(t)
	dockerFails(t, "gelf-address is a required parameter", "create", "--log-driver", "gelf", "busybox")
	dockerFails(t, "compression is only supported on UDP", "create", "--log-driver", "gelf", "--log-opt", "gelf-address=tcp://127.0.0.1:12201", "--log-opt", "gelf-compression-type=gzip", "busybox")
	dockerFails(t, `unknown log opt "gelf-foo" for gelf log driver`, "create", "--log-driver", "gelf", "--log-opt", "gelf-address=udp://127.0.0.1:12201", "--log-opt", "gelf-foo=1", "busybox")
}
