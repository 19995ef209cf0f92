package daemon

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/metrics"
	"github.com/berthd/berth/pkg/sysinfo"
)

// MetricsRegistry is what metrics-addr serves: the recorder the engine
// feeds as it works, and the engine itself read at scrape time.
func (d *Daemon) MetricsRegistry() *prometheus.Registry {
	return metrics.NewRegistry(d.metrics, &metricsSource{d: d})
}

// timed starts timing action for record (one of the Recorder's action
// methods) and returns what records it, if *err is nil when it runs:
//
//	defer timed(d.metrics.ContainerAction, "start", &err)()
//
// dockerd times successful actions only.
func timed(record func(string, time.Time), action string, err *error) func() {
	start := time.Now()
	return func() {
		if *err == nil {
			record(action, start)
		}
	}
}

// metricsSource answers the collectors' questions from the container
// store, the cgroups `docker stats` reads and the event bus.
type metricsSource struct {
	d *Daemon

	// The host and engine facts do not change while the daemon runs.
	engineOnce sync.Once
	engine     metrics.EngineInfo
}

func (s *metricsSource) Engine() metrics.EngineInfo {
	s.engineOnce.Do(func() {
		host := sysinfo.ReadHost()
		s.engine = metrics.EngineInfo{
			Version: Version, Commit: GitCommit, Architecture: host.Architecture,
			GraphDriver: config.DefaultStorage, Kernel: host.KernelVersion,
			OS: host.OperatingSystem, OSType: runtime.GOOS, OSVersion: host.OSVersion,
			DaemonID: s.d.id, CPUs: host.NCPU, MemoryBytes: host.MemTotal,
		}
	})
	return s.engine
}

func (s *metricsSource) Containers() []metrics.Container {
	list := s.d.containers.List()
	out := make([]metrics.Container, 0, len(list))
	for _, c := range list {
		c.Lock()
		m := metrics.Container{
			ID: c.ID, Name: c.Name, State: c.State.Status(), RestartCount: c.RestartCount,
		}
		if c.Config != nil {
			// The name the user ran, as `docker ps` shows it.
			m.Image, m.Labels = c.Config.Image, c.Config.Labels
		}
		if h := c.State.Health; h != nil {
			m.Health = h.Status
		}
		c.Unlock()
		out = append(out, m)
	}
	return out
}

// Stats samples the container's cgroup and network counters, as one
// `docker stats --no-stream` sample does. The read is a few small files;
// the collector bounds how long it may take.
func (s *metricsSource) Stats(ctx context.Context, id string) (*container.StatsResponse, error) {
	c, err := s.d.containers.Get(id)
	if err != nil {
		return nil, err
	}
	st, err := s.d.statsOnce(c)
	if err != nil {
		return nil, err
	}
	return &st, nil
}

func (s *metricsSource) Events() (uint64, int) {
	return s.d.events.Published(), s.d.events.SubscriberCount()
}
