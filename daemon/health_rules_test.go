package daemon

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	ctr "github.com/berthd/berth/container"
)

// health returns a copy of the container's health record.
func (d *fakeDaemon) health(t *testing.T, id string) (h container.Health) {
	t.Helper()
	d.locked(t, id, func(c *ctr.Container) {
		if c.State.Health != nil {
			h = *c.State.Health
			h.Log = slices.Clone(h.Log)
		}
	})
	return h
}

// A probe the runtime cannot run is a failure (exit -1, the runtime's
// words as output); Retries failures in a row make the container
// unhealthy, with dockerd's health_status event; failures inside the
// start period do not count; the log keeps the last five results.
func TestHealthFailingProbe(t *testing.T) {
	for _, tc := range []struct {
		name        string
		startPeriod time.Duration
		want        container.HealthStatus
	}{
		{name: "after its retries", want: container.Unhealthy},
		{name: "within the start period", startPeriod: time.Minute, want: container.Starting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newFakeDaemon(t)
			id := d.run(t, "web", func(cfg *container.Config, _ *container.HostConfig) {
				cfg.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "probe"}, Interval: 5 * time.Millisecond,
					Retries: 2, StartPeriod: tc.startPeriod}
			})
			deadline := time.Now().Add(5 * time.Second)
			// Six probes, and the sixth's result recorded.
			var h container.Health
			for {
				h = d.health(t, id)
				if len(d.rt.callsOf("exec")) > 6 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d probes ran", len(d.rt.callsOf("exec")))
				}
				time.Sleep(5 * time.Millisecond)
			}
			if h.Status != tc.want {
				t.Errorf("status %s (streak %d), want %s", h.Status, h.FailingStreak, tc.want)
			}
			if len(h.Log) != maxHealthLogEntries {
				t.Errorf("%d log entries, want %d", len(h.Log), maxHealthLogEntries)
			}
			if last := h.Log[len(h.Log)-1]; last.ExitCode != -1 || !strings.Contains(last.Output, "no exec streams") {
				t.Errorf("last result %+v", last)
			}
			unhealthyEvents := 0
			for _, a := range d.actions(id) {
				if a == "health_status: unhealthy" {
					unhealthyEvents++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.want == container.Unhealthy]; unhealthyEvents != want {
				t.Errorf("%d unhealthy events, want %d", unhealthyEvents, want)
			}
		})
	}
}
