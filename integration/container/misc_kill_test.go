package container

import (
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// A signal sent right after start reaches the container's init even
// though the program sets its handler up a moment later: the kernel would
// discard it (a namespace's init ignores signals at the default action),
// and the container would keep running. With the container's own stop
// signal the exit also disables its restart policy, as dockerd's does.
func TestMiscKillRightAfterStart(t *testing.T) {
	setup(t, d)
	// The trap comes 300 ms after the exec, long after start has answered.
	script := `usleep 300000; trap "exit 7" TERM; while :; do usleep 50000; done`
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no restart", nil, "exited 7 0"},
		{"stop signal ends restart always", []string{"--restart", "always", "--stop-signal", "TERM"}, "exited 7 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"create"}, tc.args...)
			id := strings.TrimSpace(docker(t, append(args, "busybox", "sh", "-c", script)...))
			if code, body := api(t, d, "POST", "/containers/"+id+"/start", ""); code != 204 {
				t.Fatalf("start: %d %s", code, body)
			}
			if code, body := api(t, d, "POST", "/containers/"+id+"/kill?signal=TERM", ""); code != 204 {
				t.Fatalf("kill: %d %s", code, body)
			}
			var got string
			harness.Eventually(t, 10*time.Second, "the container to exit by its trap", func() bool {
				got = format(t, d, id, "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}")
				return got == tc.want
			})
			// And it stays down.
			time.Sleep(300 * time.Millisecond)
			if got = format(t, d, id, "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}"); got != tc.want {
				t.Fatalf("state %q, want %q", got, tc.want)
			}
		})
	}
}
