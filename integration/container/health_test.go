package container

import (
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestHealthcheckUnhealthyAndBack flips a healthcheck by a file in the
// container and follows the status, ps and the health_status events.
func TestHealthcheckUnhealthyAndBack(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "hc")
	since := time.Now()
	id := runD(t, d, "--name", name, "--health-cmd", "test ! -f /tmp/bad && echo fine",
		"--health-interval", "200ms", "--health-timeout", "2s", "--health-retries", "2", "busybox", "sleep", "600")
	if got := format(t, d, id, "{{.State.Health.Status}}"); got != "starting" && got != "healthy" {
		t.Fatalf("initial health %q", got)
	}
	health := func() string { return format(t, d, id, "{{.State.Health.Status}}") }
	harness.Eventually(t, 10*time.Second, "healthy", func() bool { return health() == "healthy" })
	if got := format(t, d, id, "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}"); got != "0 fine" {
		t.Fatalf("health log: %q", got)
	}
	docker(t, "exec", name, "touch", "/tmp/bad")
	harness.Eventually(t, 10*time.Second, "unhealthy", func() bool { return health() == "unhealthy" })
	if got := format(t, d, id, "{{.State.Health.FailingStreak}}"); got < "2" {
		t.Fatalf("FailingStreak %s", got)
	}
	if got := docker(t, "ps", "--filter", "name="+name, "--format", "{{.Status}}"); !strings.Contains(got, "(unhealthy)") {
		t.Fatalf("ps status %q", got)
	}
	if got := psNames(t, "--filter", "health=unhealthy"); len(got) != 1 || got[0] != name {
		t.Fatalf("health=unhealthy filter: %v", got)
	}
	docker(t, "exec", name, "rm", "/tmp/bad")
	harness.Eventually(t, 10*time.Second, "healthy again", func() bool { return health() == "healthy" })
	if got := docker(t, "ps", "--filter", "name="+name, "--format", "{{.Status}}"); !strings.Contains(got, "(healthy)") {
		t.Fatalf("ps status %q", got)
	}
	var statuses []string
	for _, e := range eventsBetween(t, d, id, since) {
		if strings.HasPrefix(e.Action, "health_status") {
			statuses = append(statuses, e.Action)
		}
	}
	// One event per change of status.
	want := []string{"health_status: healthy", "health_status: unhealthy", "health_status: healthy"}
	if strings.Join(statuses, ",") != strings.Join(want, ",") {
		t.Fatalf("health_status events %q, want %q", statuses, want)
	}
}

func TestHealthcheckTimeoutAndNone(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "--health-cmd", "sleep 5", "--health-interval", "200ms", "--health-timeout", "200ms", "--health-retries", "1", "busybox", "sleep", "600")
	harness.Eventually(t, 10*time.Second, "unhealthy by timeout", func() bool {
		return format(t, d, id, "{{.State.Health.Status}}") == "unhealthy"
	})
	if got := format(t, d, id, "{{(index .State.Health.Log 0).ExitCode}}"); got != "-1" {
		t.Fatalf("timed-out probe exit code %s, want -1", got)
	}
	// --no-healthcheck: no Health in State.
	id2 := runD(t, d, "--no-healthcheck", "busybox", "sleep", "600")
	if got := format(t, d, id2, "{{.State.Health}}"); got != "<nil>" {
		t.Fatalf("--no-healthcheck State.Health %q", got)
	}
}
