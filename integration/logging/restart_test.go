package logging

import (
	"fmt"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestRemoteDriverAcrossRestart: with live-restore, a daemon restart
// while a container logs to fluentd neither loses nor repeats a line:
// the restarted daemon opens the driver again and resumes after the last
// line the previous one sent.
func TestRemoteDriverAcrossRestart(t *testing.T) {
	r := fluentReceiver(t, "tcp")
	ld := harness.Fresh(t, harness.Options{Config: `{"live-restore":true}`})
	ld.LoadTestImages(t)
	const n = 30
	ld.DockerT(t, "run", "-d", "--name", "counter", "--log-driver", "fluentd", "--log-opt", "fluentd-address="+r.addr,
		"busybox", "sh", "-c", fmt.Sprintf("i=1; while [ $i -le %d ]; do echo line$i; i=$((i+1)); sleep 0.05; done", n))
	time.Sleep(400 * time.Millisecond)
	if err := ld.Restart(false); err != nil {
		t.Fatal(err)
	}
	ld.DockerT(t, "wait", "counter")
	for i := 1; i <= n; i++ {
		// The line as msgpack encodes it (a fixstr: its length first), so
		// that line1 does not match line10.
		line := fmt.Sprintf("line%d", i)
		if _, _, rec := fluentEvent(t, r.waitFor(t, string([]byte{0xa0 + byte(len(line))})+line)); rec["log"] != line {
			t.Fatalf("line %d: %v", i, rec)
		}
	}
	// Nothing more comes: no line was sent twice.
	time.Sleep(300 * time.Millisecond)
	if len(r.kept) > 0 || len(r.ch) > 0 {
		t.Fatalf("%d lines more than the container wrote (repeated): %q", len(r.kept)+len(r.ch), r.kept)
	}
}
