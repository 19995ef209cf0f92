package daemon

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/metrics/metricstest"
)

// sampleOf finds a sample in what reg gathers now (see metricstest.Sample).
func sampleOf(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (float64, bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return metricstest.Sample(fams, name, want)
}

func TestMetricsFollowTheEngine(t *testing.T) {
	d := newFakeDaemon(t)
	reg := d.MetricsRegistry()
	ctx := context.Background()

	web := d.run(t, "web", func(c *container.Config, _ *container.HostConfig) {
		c.Labels = map[string]string{"com.docker.compose.project": "shop", "com.docker.compose.service": "web"}
	})
	batch := d.run(t, "batch")
	zero := 0
	if err := d.ContainerStop(ctx, batch, "", &zero); err != nil {
		t.Fatal(err)
	}
	d.waitState(t, batch, "exited")
	d.create(t, "idle")
	if err := d.ContainerRm(ctx, "idle", backend.ContainerRmConfig{}); err != nil {
		t.Fatal(err)
	}

	for action, n := range map[string]float64{"create": 3, "start": 2, "stop": 1, "delete": 1, "commit": 0} {
		got, ok := sampleOf(t, reg, "engine_daemon_container_actions_seconds", map[string]string{"action": action})
		if !ok || got != n {
			t.Errorf("container_actions{action=%s} = %v (present %v), want %v", action, got, ok, n)
		}
	}
	for state, n := range map[string]float64{"running": 1, "stopped": 1, "paused": 0} {
		if got, _ := sampleOf(t, reg, "engine_daemon_container_states_containers", map[string]string{"state": state}); got != n {
			t.Errorf("container_states{state=%s} = %v, want %v", state, got, n)
		}
	}
	if got, _ := sampleOf(t, reg, "engine_daemon_events_total", nil); got < 6 {
		t.Errorf("events_total = %v, want at least the 6 events logged (create, start ×2, kill, die, stop, …)", got)
	}
	if _, ok := sampleOf(t, reg, "engine_daemon_engine_info", map[string]string{"daemon_id": d.id, "version": Version}); !ok {
		t.Error("no engine_info for this daemon")
	}
	labels := map[string]string{"id": web, "name": "web", "image": testImage, "compose_project": "shop", "compose_service": "web"}
	if got, ok := sampleOf(t, reg, "berth_container_running", labels); !ok || got != 1 {
		t.Errorf("berth_container_running for web = %v (present %v)", got, ok)
	}
	if got, _ := sampleOf(t, reg, "berth_container_running", map[string]string{"id": batch}); got != 0 {
		t.Errorf("berth_container_running for the stopped batch = %v", got)
	}
	if _, ok := sampleOf(t, reg, "berth_container_restarts_total", map[string]string{"name": "idle"}); ok {
		t.Error("a removed container is still reported")
	}
}

func TestOOMKillsAreCountedAndForgotten(t *testing.T) {
	d := newFakeDaemon(t)
	reg := d.MetricsRegistry()
	id := d.run(t, "hog")
	d.rt.shim(d.shimDir(id)).oomKill()
	d.waitState(t, id, "exited")
	if got, _ := sampleOf(t, reg, "berth_container_oom_kills_total", map[string]string{"id": id}); got != 1 {
		t.Fatalf("oom_kills_total = %v, want 1", got)
	}
	if err := d.ContainerRm(context.Background(), id, backend.ContainerRmConfig{}); err != nil {
		t.Fatal(err)
	}
	d.create(t, "hog")
	if got, _ := sampleOf(t, reg, "berth_container_oom_kills_total", map[string]string{"name": "hog"}); got != 0 {
		t.Fatalf("a new container inherits %v OOM kills", got)
	}
}

// An OOM kill while no daemon ran is counted by the daemon that finds it.
func TestOOMKillWhileDownIsCounted(t *testing.T) {
	d := newFakeDaemon(t)
	id := d.run(t, "hog")
	d.crash()
	d.rt.shim(d.shimDir(id)).oomKill()
	d = d.restart(t)
	d.waitState(t, id, "exited")
	if got, _ := sampleOf(t, d.MetricsRegistry(), "berth_container_oom_kills_total", map[string]string{"id": id}); got != 1 {
		t.Fatalf("oom_kills_total = %v, want 1", got)
	}
}
