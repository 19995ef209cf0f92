package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	units "github.com/docker/go-units"
	dto "github.com/prometheus/client_model/go"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/metrics/metricstest"
)

var imagesOnce sync.Once

func loadImages(t *testing.T) {
	imagesOnce.Do(func() { d.LoadTestImages(t) })
}

// scrape GETs /metrics from addr and parses it as Prometheus does.
func scrape(t *testing.T, addr string) []*dto.MetricFamily {
	t.Helper()
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: HTTP %d", resp.StatusCode)
	}
	fams, err := metricstest.Parse(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

var sample = metricstest.Sample

func mustSample(t *testing.T, fams []*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := sample(fams, name, want)
	if !ok {
		t.Fatalf("no %s sample with labels %v", name, want)
	}
	return v
}

func inspect(t *testing.T, id, format string) string {
	t.Helper()
	return strings.TrimSpace(d.DockerT(t, "inspect", "--format", format, id))
}

// dockerStats is one `docker stats --no-stream` row for id.
type dockerStats struct {
	MemUsage, PIDs string
}

func statsOf(t *testing.T, id string) dockerStats {
	t.Helper()
	var s dockerStats
	out := d.DockerT(t, "stats", "--no-stream", "--format", "{{json .}}", id)
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("docker stats: %v: %q", err, out)
	}
	return s
}

// within reports whether got is within tol (a fraction) of want, or within
// slack bytes of it.
func within(got, want, tol, slack float64) bool {
	return math.Abs(got-want) <= math.Max(tol*want, slack)
}

func TestContainerMetricsMatchDockerStats(t *testing.T) {
	loadImages(t)
	// 16 MiB in /dev/shm is memory the container holds and cannot drop.
	id := run(t, d, "run", "-d", "--name", "metrics-web",
		"--label", "com.docker.compose.project=shop", "--label", "com.docker.compose.service=web",
		harness.BusyboxImage, "sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=16 2>/dev/null; exec sleep 1000")
	labels := map[string]string{
		"id": id, "name": "metrics-web", "image": harness.BusyboxImage,
		"compose_project": "shop", "compose_service": "web",
	}
	harness.Eventually(t, 10*time.Second, "the container to fill 16 MiB", func() bool {
		v, _ := sample(scrape(t, metricsAddr), "berth_container_memory_usage_bytes", labels)
		return v >= 16<<20
	})

	st := statsOf(t, id)
	fams := scrape(t, metricsAddr)
	usage, limit, ok := strings.Cut(st.MemUsage, " / ")
	if !ok {
		t.Fatalf("docker stats MemUsage %q", st.MemUsage)
	}
	wantUsage, err := units.RAMInBytes(usage)
	if err != nil {
		t.Fatal(err)
	}
	wantLimit, err := units.RAMInBytes(limit)
	if err != nil {
		t.Fatal(err)
	}
	gotUsage := mustSample(t, fams, "berth_container_memory_usage_bytes", labels)
	t.Logf("memory usage: metrics %.0f B, docker stats %s; pids %s", gotUsage, st.MemUsage, st.PIDs)
	// Two reads a moment apart of a sleeping container: within 5% or 1 MiB
	// (docker stats also rounds what it prints).
	if !within(gotUsage, float64(wantUsage), 0.05, 1<<20) {
		t.Errorf("memory usage: metrics %v, docker stats %s (%d)", gotUsage, usage, wantUsage)
	}
	if got := mustSample(t, fams, "berth_container_memory_limit_bytes", labels); !within(got, float64(wantLimit), 0.01, 1<<20) {
		t.Errorf("memory limit: metrics %v, docker stats %s", got, limit)
	}
	if got := mustSample(t, fams, "berth_container_pids", labels); strconv.Itoa(int(got)) != st.PIDs {
		t.Errorf("pids: metrics %v, docker stats %s", got, st.PIDs)
	}
	if got := mustSample(t, fams, "berth_container_cpu_usage_seconds_total", labels); got <= 0 {
		t.Errorf("cpu usage %v: dd used some", got)
	}
	// The default bridge gives it an eth0, whose counters are there even
	// when nothing has moved yet.
	iface := map[string]string{"id": id, "interface": "eth0"}
	for _, name := range []string{"berth_container_network_receive_bytes_total", "berth_container_network_transmit_bytes_total"} {
		mustSample(t, fams, name, iface)
	}
	for _, name := range []string{"berth_container_blkio_read_bytes_total", "berth_container_blkio_write_bytes_total"} {
		mustSample(t, fams, name, labels)
	}
	if got := mustSample(t, fams, "berth_container_running", labels); got != 1 {
		t.Errorf("berth_container_running = %v", got)
	}
	if got := mustSample(t, fams, "berth_container_stats_errors", nil); got != 0 {
		t.Errorf("berth_container_stats_errors = %v", got)
	}
}

func TestHealthRestartsAndOOMKills(t *testing.T) {
	loadImages(t)
	hc := run(t, d, "run", "-d", "--name", "metrics-health", "--health-cmd", "true", "--health-interval", "1s",
		harness.BusyboxImage, "sleep", "1000")
	restarts := run(t, d, "run", "-d", "--name", "metrics-restarts", "--restart", "on-failure:2",
		harness.BusyboxImage, "sh", "-c", "exit 3")
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.oom_control")
	harness.Require(t, err == nil, "the cgroup v1 memory controller (an OOM kill needs a memory limit)")
	// tail buffers its one endless line from /dev/zero until the limit.
	oom := run(t, d, "run", "-d", "--name", "metrics-oom", "-m", "16m", "--memory-swap", "16m",
		harness.BusyboxImage, "tail", "/dev/zero")

	harness.Eventually(t, 20*time.Second, "the healthcheck to pass", func() bool {
		return inspect(t, hc, "{{.State.Health.Status}}") == "healthy"
	})
	harness.Eventually(t, 30*time.Second, "two restarts and a last exit", func() bool {
		return inspect(t, restarts, "{{.State.Status}} {{.RestartCount}}") == "exited 2"
	})
	harness.Eventually(t, 30*time.Second, "the OOM kill", func() bool {
		return inspect(t, oom, "{{.State.Status}}") == "exited"
	})
	if got := inspect(t, oom, "{{.State.OOMKilled}}"); got != "true" {
		t.Fatalf("inspect says OOMKilled=%s: no OOM kill to count", got)
	}

	fams := scrape(t, metricsAddr)
	for status, want := range map[string]float64{"healthy": 1, "unhealthy": 0, "starting": 0} {
		if got := mustSample(t, fams, "berth_container_health_status", map[string]string{"id": hc, "status": status}); got != want {
			t.Errorf("health_status{status=%s} = %v, want %v", status, got, want)
		}
	}
	if _, ok := sample(fams, "berth_container_health_status", map[string]string{"id": restarts}); ok {
		t.Error("a container without a healthcheck has a health status")
	}
	if got := mustSample(t, fams, "engine_daemon_health_checks_total", nil); got < 1 {
		t.Errorf("engine_daemon_health_checks_total = %v after a passing check", got)
	}
	wantRestarts, _ := strconv.Atoi(inspect(t, restarts, "{{.RestartCount}}"))
	if got := mustSample(t, fams, "berth_container_restarts_total", map[string]string{"id": restarts}); int(got) != wantRestarts {
		t.Errorf("restarts_total = %v, inspect RestartCount %d", got, wantRestarts)
	}
	if got := mustSample(t, fams, "berth_container_oom_kills_total", map[string]string{"id": oom, "name": "metrics-oom"}); got != 1 {
		t.Errorf("oom_kills_total = %v, want 1", got)
	}
	if got := mustSample(t, fams, "berth_container_oom_kills_total", map[string]string{"id": hc}); got != 0 {
		t.Errorf("oom_kills_total of the healthy one = %v", got)
	}
	// Stopped containers have lifecycle series but no resource ones.
	if _, ok := sample(fams, "berth_container_cpu_usage_seconds_total", map[string]string{"id": oom}); ok {
		t.Error("an exited container has CPU samples")
	}
}

func TestContainerActionsAreCounted(t *testing.T) {
	loadImages(t)
	actions := []string{"create", "start", "stop", "delete"}
	counts := func() map[string]float64 {
		fams := scrape(t, metricsAddr)
		out := map[string]float64{}
		for _, a := range actions {
			out[a], _ = sample(fams, "engine_daemon_container_actions_seconds", map[string]string{"action": a})
		}
		return out
	}
	before := counts()
	id := run(t, d, "create", "--name", "metrics-actions", harness.BusyboxImage, "sleep", "1000")
	d.DockerT(t, "start", id)
	d.DockerT(t, "stop", "-t", "0", id)
	d.DockerT(t, "rm", id)
	after := counts()
	for _, a := range actions {
		if after[a]-before[a] != 1 {
			t.Errorf("container_actions{action=%s}: %v → %v, want one more", a, before[a], after[a])
		}
	}
}

func TestEngineMetricsMatchDockerInfo(t *testing.T) {
	loadImages(t)
	run(t, d, "run", "-d", "--name", "metrics-engine", harness.BusyboxImage, "sleep", "1000")
	var info struct {
		ID, ServerVersion, KernelVersion string
		NCPU                             int
		MemTotal                         int64
		ContainersRunning                int
	}
	if err := json.Unmarshal([]byte(d.DockerT(t, "info", "--format", "{{json .}}")), &info); err != nil {
		t.Fatal(err)
	}
	// A `docker events` running is one subscriber.
	events := d.DockerCmd("events")
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { events.Process.Kill(); events.Wait() })
	var fams []*dto.MetricFamily
	harness.Eventually(t, 10*time.Second, "the events subscriber", func() bool {
		fams = scrape(t, metricsAddr)
		v, _ := sample(fams, "engine_daemon_events_subscribers_total", nil)
		return v == 1
	})
	mustSample(t, fams, "engine_daemon_engine_info", map[string]string{
		"version": info.ServerVersion, "daemon_id": info.ID, "kernel": info.KernelVersion,
		"graphdriver": "overlay2", "os_type": "linux",
	})
	if got := mustSample(t, fams, "engine_daemon_engine_cpus_cpus", nil); int(got) != info.NCPU {
		t.Errorf("engine_cpus_cpus = %v, docker info NCPU %d", got, info.NCPU)
	}
	if got := mustSample(t, fams, "engine_daemon_engine_memory_bytes", nil); int64(got) != info.MemTotal {
		t.Errorf("engine_memory_bytes = %v, docker info MemTotal %d", got, info.MemTotal)
	}
	if got := mustSample(t, fams, "engine_daemon_container_states_containers", map[string]string{"state": "running"}); int(got) != info.ContainersRunning {
		t.Errorf("container_states{running} = %v, docker info %d", got, info.ContainersRunning)
	}
	if got := mustSample(t, fams, "engine_daemon_events_total", nil); got < 2 {
		t.Errorf("events_total = %v after a create and a start", got)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		mustSample(t, fams, name, nil)
	}
}

func TestListenerClosedAtShutdown(t *testing.T) {
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dd := harness.Fresh(t, harness.Options{Config: fmt.Sprintf(`{"metrics-addr": %q}`, addr)})
	mustSample(t, scrape(t, addr), "engine_daemon_engine_info", nil)
	if err := dd.Stop(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after the daemon stopped", addr)
	}
}
