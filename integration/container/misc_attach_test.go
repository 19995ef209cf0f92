package container

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// miscGoroutines is the daemon's goroutine count once it has held still
// for a few reads in a row.
func miscGoroutines(t *testing.T, dd *harness.Daemon) int {
	t.Helper()
	last, same := -1, 0
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, body := dd.Do(t, "GET", "/info", "")
		var info struct{ NGoroutines int }
		jsonUnmarshal(t, body, &info)
		if info.NGoroutines == last {
			if same++; same >= 3 {
				return last
			}
		} else {
			last, same = info.NGoroutines, 0
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("goroutine count never settled (last %d)", last)
	return 0
}

// miscAttachConn sends an attach request on a raw connection and reads
// the upgrade response.
func miscAttachConn(t *testing.T, dd *harness.Daemon, id, query string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("unix", dd.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /containers/%s/attach?%s HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", id, query)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("attach: %v %v", resp, err)
	}
	return c, br
}

// An attach keeps what it holds in the daemon only while its client is
// there: dockerd's behaviour that moby's TestAttachDisconnectLeak counts.
// Without stream the output ends at once but the connection stays until
// the client closes it; an attach waiting for a container to start ends
// when its client hangs up, not at the next start.
func TestMiscAttachEndsWithItsClient(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	id := strings.TrimSpace(dockerOn(t, dd, "create", "busybox", "sh", "-c", "while true; do usleep 100000; done"))
	base := miscGoroutines(t, dd)

	t.Run("no stream", func(t *testing.T) {
		c, br := miscAttachConn(t, dd, id, "stdout=1")
		// The daemon has ended the output (half-close)...
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, err := io.ReadAll(br); err != nil || len(b) != 0 {
			t.Fatalf("output %q, %v; want an immediate end", b, err)
		}
		// ...and keeps the connection for the client.
		if n := miscGoroutines(t, dd); n <= base {
			t.Fatalf("goroutines %d, not above %d while the client is attached", n, base)
		}
		c.Close()
		harness.Eventually(t, 10*time.Second, "goroutines back after hang-up", func() bool { return miscGoroutines(t, dd) <= base })
	})
	t.Run("stream to a created container", func(t *testing.T) {
		c, _ := miscAttachConn(t, dd, id, "stream=1&stdout=1")
		if n := miscGoroutines(t, dd); n <= base {
			t.Fatalf("goroutines %d, not above %d while the client is attached", n, base)
		}
		c.Close()
		harness.Eventually(t, 10*time.Second, "goroutines back after hang-up", func() bool { return miscGoroutines(t, dd) <= base })
	})
	// The container still starts and runs normally afterwards.
	dockerOn(t, dd, "start", id)
	waitState(t, dd, id, "running", 10*time.Second)
	var st struct{ State struct{ Running bool } }
	_, body := dd.Do(t, "GET", "/containers/"+id+"/json", "")
	if json.Unmarshal([]byte(body), &st) != nil || !st.State.Running {
		t.Fatalf("inspect: %s", body)
	}
}

// What a client typed just before it hung up still reaches the container:
// the docker CLI closes its connection as soon as it reads a detach
// sequence of its own, and the keys before it (ctrl-u to clear a line,
// say) must not be lost with the connection.
func TestMiscAttachInputBeforeHangUpArrives(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "-i", "busybox", "sh", "-c", "while read l; do echo \"$l\" >> /tmp/got; done")
	const rounds = 20
	for i := 0; i < rounds; i++ {
		c, _ := miscAttachConn(t, d, id, "stream=1&stdin=1&stdout=1")
		fmt.Fprintf(c, "line-%d\n", i)
		c.Close()
	}
	harness.Eventually(t, 10*time.Second, "every line written before a hang-up", func() bool {
		got := docker(t, "exec", id, "cat", "/tmp/got")
		for i := 0; i < rounds; i++ {
			if !strings.Contains(got, fmt.Sprintf("line-%d\n", i)) {
				return false
			}
		}
		return true
	})
}
