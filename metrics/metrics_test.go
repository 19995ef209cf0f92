package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/berthd/berth/metrics/metricstest"
)

// fakeSource is a Source with fixed answers; stats may block or count how
// many reads run at once.
type fakeSource struct {
	containers []Container
	stats      map[string]*container.StatsResponse
	delay      map[string]time.Duration

	inFlight, maxInFlight atomic.Int32
}

func (f *fakeSource) Engine() EngineInfo {
	return EngineInfo{Version: "1.2.3", Commit: "abc", Architecture: "x86_64", GraphDriver: "overlay2",
		Kernel: "6.1", OS: "Debian", OSType: "linux", OSVersion: "12", DaemonID: "D", CPUs: 4, MemoryBytes: 8 << 30}
}

func (f *fakeSource) Containers() []Container { return f.containers }

func (f *fakeSource) Events() (uint64, int) { return 42, 3 }

func (f *fakeSource) Stats(ctx context.Context, id string) (*container.StatsResponse, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-time.After(f.delay[id]):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s, ok := f.stats[id]; ok {
		return s, nil
	}
	return &container.StatsResponse{}, nil
}

// gather collects reg and indexes each sample by name and label set
// ("name{k=v,...}" with labels in registry order).
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.Metric {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Metric{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			out[f.GetName()+"{"+strings.Join(ls, ",")+"}"] = m
		}
	}
	return out
}

func want(t *testing.T, got map[string]*dto.Metric, key string, v float64) {
	t.Helper()
	m, ok := got[key]
	if !ok {
		var keys []string
		for k := range got {
			if strings.HasPrefix(k, strings.SplitN(key, "{", 2)[0]) {
				keys = append(keys, k)
			}
		}
		t.Fatalf("no sample %s; have %v", key, keys)
	}
	if metricstest.Value(m) != v {
		t.Errorf("%s = %v, want %v", key, metricstest.Value(m), v)
	}
}

// Labels as Gather sorts them.
const (
	webLabels = "compose_project=shop,compose_service=web,id=c1,image=nginx:1,name=web-1"
	webIface  = "compose_project=shop,compose_service=web,id=c1,image=nginx:1,interface=eth0,name=web-1"
)

func sampleSource() *fakeSource {
	return &fakeSource{
		containers: []Container{
			{ID: "c1", Name: "/web-1", Image: "nginx:1", State: container.StateRunning, RestartCount: 2,
				Health: container.Healthy,
				Labels: map[string]string{composeProjectLabel: "shop", composeServiceLabel: "web"}},
			{ID: "c2", Name: "/batch", Image: "busybox", State: container.StateExited},
			{ID: "c3", Name: "/held", Image: "busybox", State: container.StatePaused},
		},
		stats: map[string]*container.StatsResponse{
			"c1": {
				CPUStats: container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 3e9, UsageInUsermode: 2e9, UsageInKernelmode: 1e9}},
				MemoryStats: container.MemoryStats{Usage: 10 << 20, Limit: 64 << 20,
					Stats: map[string]uint64{"total_inactive_file": 4 << 20}},
				PidsStats: container.PidsStats{Current: 5},
				Networks:  map[string]container.NetworkStats{"eth0": {RxBytes: 100, TxBytes: 200, RxPackets: 3, TxPackets: 4}},
				BlkioStats: container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
					{Major: 8, Op: "Read", Value: 1000}, {Major: 8, Op: "Write", Value: 500},
					{Major: 9, Op: "read", Value: 24}, {Major: 8, Op: "Total", Value: 1500},
				}},
			},
		},
	}
}

func TestEngineMetricsCarryDockerdNames(t *testing.T) {
	rec := NewRecorder()
	got := gather(t, NewRegistry(rec, sampleSource()))
	want(t, got, "engine_daemon_engine_info{architecture=x86_64,commit=abc,daemon_id=D,graphdriver=overlay2,kernel=6.1,os=Debian,os_type=linux,os_version=12,version=1.2.3}", 1)
	want(t, got, "engine_daemon_engine_cpus_cpus{}", 4)
	want(t, got, "engine_daemon_engine_memory_bytes{}", 8<<30)
	want(t, got, "engine_daemon_container_states_containers{state=running}", 1)
	want(t, got, "engine_daemon_container_states_containers{state=paused}", 1)
	want(t, got, "engine_daemon_container_states_containers{state=stopped}", 1)
	want(t, got, "engine_daemon_events_total{}", 42)
	want(t, got, "engine_daemon_events_subscribers_total{}", 3)
	// dockerd's action series exist before any action, with no samples.
	for _, a := range containerActions {
		want(t, got, "engine_daemon_container_actions_seconds{action="+a+"}", 0)
	}
	want(t, got, "engine_daemon_health_checks_total{}", 0)
	want(t, got, "builder_builds_triggered_total{}", 0)
	if _, ok := got["go_goroutines{}"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

func TestRecorderCountsWhatTheDaemonReports(t *testing.T) {
	rec := NewRecorder()
	reg := NewRegistry(rec, &fakeSource{})
	start := time.Now()
	rec.ContainerAction("start", start)
	rec.ContainerAction("start", start)
	rec.ContainerAction("stop", start)
	rec.NetworkAction("connect", start)
	rec.ImageAction("pull", start)
	rec.HealthCheck(false)
	rec.HealthCheck(true)
	rec.BuildTriggered()
	rec.BuildFailed(BuildCanceled)
	got := gather(t, reg)
	want(t, got, "engine_daemon_container_actions_seconds{action=start}", 2)
	want(t, got, "engine_daemon_container_actions_seconds{action=stop}", 1)
	want(t, got, "engine_daemon_network_actions_seconds{action=connect}", 1)
	want(t, got, "engine_daemon_image_actions_seconds{action=pull}", 1)
	want(t, got, "engine_daemon_health_checks_total{}", 2)
	want(t, got, "engine_daemon_health_checks_failed_total{}", 1)
	want(t, got, "builder_builds_triggered_total{}", 1)
	want(t, got, "builder_builds_failed_total{reason=build_canceled}", 1)
}

func TestNilRecorderRecordsNothing(t *testing.T) {
	var rec *Recorder
	rec.ContainerAction("start", time.Now())
	rec.HealthCheck(true)
	rec.OOMKill("x")
	rec.Forget("x")
	if n := rec.oomKillsOf("x"); n != 0 {
		t.Fatalf("nil recorder counted %d OOM kills", n)
	}
	gather(t, NewRegistry(nil, sampleSource())) // and a registry without one still serves
}

func TestContainerMetricsMatchDockerStats(t *testing.T) {
	rec := NewRecorder()
	rec.OOMKill("c2")
	rec.OOMKill("c2")
	rec.OOMKill("gone")
	rec.Forget("gone")
	got := gather(t, NewRegistry(rec, sampleSource()))

	want(t, got, "berth_container_cpu_usage_seconds_total{"+webLabels+"}", 3)
	want(t, got, "berth_container_cpu_user_seconds_total{"+webLabels+"}", 2)
	want(t, got, "berth_container_cpu_system_seconds_total{"+webLabels+"}", 1)
	want(t, got, "berth_container_memory_usage_bytes{"+webLabels+"}", 6<<20) // usage less inactive file
	want(t, got, "berth_container_memory_limit_bytes{"+webLabels+"}", 64<<20)
	want(t, got, "berth_container_pids{"+webLabels+"}", 5)
	want(t, got, "berth_container_network_receive_bytes_total{"+webIface+"}", 100)
	want(t, got, "berth_container_network_transmit_bytes_total{"+webIface+"}", 200)
	want(t, got, "berth_container_network_receive_packets_total{"+webIface+"}", 3)
	want(t, got, "berth_container_blkio_read_bytes_total{"+webLabels+"}", 1024)
	want(t, got, "berth_container_blkio_write_bytes_total{"+webLabels+"}", 500)
	want(t, got, "berth_container_restarts_total{"+webLabels+"}", 2)
	want(t, got, "berth_container_running{"+webLabels+"}", 1)
	for status, v := range map[string]float64{"healthy": 1, "unhealthy": 0, "starting": 0} {
		want(t, got, "berth_container_health_status{"+webLabels+",status="+status+"}", v)
	}

	batch := "compose_project=,compose_service=,id=c2,image=busybox,name=batch"
	want(t, got, "berth_container_oom_kills_total{"+batch+"}", 2)
	want(t, got, "berth_container_running{"+batch+"}", 0)
	if _, ok := got["berth_container_cpu_usage_seconds_total{"+batch+"}"]; ok {
		t.Error("a stopped container has resource samples")
	}
	if _, ok := got["berth_container_health_status{"+batch+",status=healthy}"]; ok {
		t.Error("a container without a healthcheck has a health status")
	}
	// The paused one is sampled (its cgroup is there), the exited one not.
	want(t, got, "berth_container_cpu_usage_seconds_total{compose_project=,compose_service=,id=c3,image=busybox,name=held}", 0)
	want(t, got, "berth_container_stats_errors{}", 0)
}

func TestMemoryUsageOnCgroupV2(t *testing.T) {
	m := container.MemoryStats{Usage: 100, Stats: map[string]uint64{"inactive_file": 30}}
	if got := MemoryUsage(m); got != 70 {
		t.Errorf("v2 usage = %d, want 70", got)
	}
	m.Stats["inactive_file"] = 300 // larger than usage: keep usage, as docker does
	if got := MemoryUsage(m); got != 100 {
		t.Errorf("usage with oversized cache = %d, want 100", got)
	}
}

func TestScrapeCostIsBounded(t *testing.T) {
	src := &fakeSource{delay: map[string]time.Duration{"stuck": time.Hour}}
	for i := range 40 {
		id := string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		src.containers = append(src.containers, Container{ID: id, Name: "/" + id, State: container.StateRunning})
		src.delay[id] = 20 * time.Millisecond
	}
	src.containers = append(src.containers, Container{ID: "stuck", Name: "/stuck", State: container.StateRunning})
	reg := prometheus.NewRegistry()
	reg.MustRegister(newContainerCollector(src, nil, 4, 200*time.Millisecond, 5*time.Second))

	began := time.Now()
	got := gather(t, reg)
	took := time.Since(began)

	if m := src.maxInFlight.Load(); m > 4 {
		t.Errorf("%d stats reads at once, want at most 4", m)
	}
	// 40 reads of 20ms four at a time, plus one timeout: far below an hour.
	if took > 2*time.Second {
		t.Errorf("scrape took %v", took)
	}
	want(t, got, "berth_container_stats_errors{}", 1)
	if _, ok := got["berth_container_cpu_usage_seconds_total{compose_project=,compose_service=,id=stuck,image=,name=stuck}"]; ok {
		t.Error("the stuck container has samples")
	}
	want(t, got, "berth_container_running{compose_project=,compose_service=,id=stuck,image=,name=stuck}", 1)
}

func TestServerServesAndCloses(t *testing.T) {
	s, err := Listen("127.0.0.1:0", Handler(NewRegistry(NewRecorder(), sampleSource())))
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.Addr().String() + "/metrics"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "engine_daemon_engine_info{") {
		t.Fatalf("GET /metrics: %d %.200s", resp.StatusCode, body)
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.Close(time.Second) })
	wg.Wait()
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Fatal("the listener still answers after Close")
	}
}

// hangingSource never returns from Stats until released, whatever its
// context says: the collector must bound it anyway.
type hangingSource struct {
	fakeSource
	release chan struct{}
	calls   atomic.Int32
}

func (h *hangingSource) Stats(ctx context.Context, id string) (*container.StatsResponse, error) {
	h.calls.Add(1)
	<-h.release
	return &container.StatsResponse{}, nil
}

func TestHangingStatsDoNotPileUp(t *testing.T) {
	src := &hangingSource{release: make(chan struct{})}
	defer close(src.release)
	for i := range 10 {
		id := string(rune('a' + i))
		src.containers = append(src.containers, Container{ID: id, Name: "/" + id, State: container.StateRunning})
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newContainerCollector(src, nil, 3, 50*time.Millisecond, 300*time.Millisecond))
	for range 2 {
		began := time.Now()
		got := gather(t, reg)
		if took := time.Since(began); took > time.Second {
			t.Fatalf("a scrape over hanging reads took %v", took)
		}
		want(t, got, "berth_container_stats_errors{}", 10)
	}
	// The three reads of the first scrape still hold their slots: the
	// second scrape started none.
	if n := src.calls.Load(); n != 3 {
		t.Fatalf("%d reads started, want the 3 slots' worth", n)
	}
}
