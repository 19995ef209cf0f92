package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
)

// Bounds on what a scrape may cost: at most statsConcurrency stats reads
// at a time; a container whose read takes longer than statsTimeout, or
// that is not reached within scrapeBudget (under Prometheus' default 10s
// scrape timeout), is left out of the scrape and counted in
// berth_container_stats_errors rather than holding it up.
const (
	statsConcurrency = 8
	statsTimeout     = 2 * time.Second
	scrapeBudget     = 8 * time.Second
)

// containerLabels are the labels of every per-container series.
var containerLabels = []string{"id", "name", "image", "compose_project", "compose_service"}

func containerDesc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc("berth_container_"+name, help, append(append([]string{}, containerLabels...), extra...), nil)
}

var (
	cpuDesc        = containerDesc("cpu_usage_seconds_total", "CPU time the container used, user and system")
	cpuUserDesc    = containerDesc("cpu_user_seconds_total", "CPU time the container used in user mode")
	cpuSystemDesc  = containerDesc("cpu_system_seconds_total", "CPU time the container used in kernel mode")
	memUsageDesc   = containerDesc("memory_usage_bytes", "Memory the container uses, less inactive page cache: docker stats' MEM USAGE")
	memLimitDesc   = containerDesc("memory_limit_bytes", "The container's memory limit (the host's memory when it has none): docker stats' LIMIT")
	pidsDesc       = containerDesc("pids", "Processes and threads in the container: docker stats' PIDS")
	netRxBytesDesc = containerDesc("network_receive_bytes_total", "Bytes received on a container interface", "interface")
	netTxBytesDesc = containerDesc("network_transmit_bytes_total", "Bytes sent on a container interface", "interface")
	netRxPktsDesc  = containerDesc("network_receive_packets_total", "Packets received on a container interface", "interface")
	netTxPktsDesc  = containerDesc("network_transmit_packets_total", "Packets sent on a container interface", "interface")
	netRxErrsDesc  = containerDesc("network_receive_errors_total", "Receive errors on a container interface", "interface")
	netTxErrsDesc  = containerDesc("network_transmit_errors_total", "Transmit errors on a container interface", "interface")
	blkReadDesc    = containerDesc("blkio_read_bytes_total", "Bytes the container read from block devices")
	blkWriteDesc   = containerDesc("blkio_write_bytes_total", "Bytes the container wrote to block devices")
	restartsDesc   = containerDesc("restarts_total", "Times the engine restarted the container (docker inspect's RestartCount)")
	oomKillsDesc   = containerDesc("oom_kills_total", "OOM kills in the container that this engine saw, live or at restore")
	healthDesc     = containerDesc("health_status", "1 for the container's current health status, 0 for the others; absent without a healthcheck", "status")
	runningDesc    = containerDesc("running", "1 when the container is running (or paused), 0 otherwise")

	scrapeErrorsDesc = prometheus.NewDesc("berth_container_stats_errors",
		"Running containers whose stats could not be read in this scrape (failed or timed out)", nil, nil)
)

var healthStatuses = []container.HealthStatus{container.Starting, container.Healthy, container.Unhealthy}

// containerCollector reports each container's figures, reading the stats
// of running ones at scrape time.
type containerCollector struct {
	src Source
	rec *Recorder
	// slots holds one token per stats read in flight, across scrapes.
	slots   chan struct{}
	timeout time.Duration
	budget  time.Duration
}

func newContainerCollector(src Source, rec *Recorder, concurrency int, timeout, budget time.Duration) *containerCollector {
	return &containerCollector{src: src, rec: rec, slots: make(chan struct{}, max(concurrency, 1)), timeout: timeout, budget: budget}
}

func (c *containerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		cpuDesc, cpuUserDesc, cpuSystemDesc, memUsageDesc, memLimitDesc, pidsDesc,
		netRxBytesDesc, netTxBytesDesc, netRxPktsDesc, netTxPktsDesc, netRxErrsDesc, netTxErrsDesc,
		blkReadDesc, blkWriteDesc, restartsDesc, oomKillsDesc, healthDesc, runningDesc, scrapeErrorsDesc,
	} {
		ch <- d
	}
}

func (c *containerCollector) Collect(ch chan<- prometheus.Metric) {
	cs := c.src.Containers()
	stats, failed := c.readStats(cs)
	for i, ct := range cs {
		labels := labelValues(ct)
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(labels, extra...)...)
		}
		counter := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append(labels, extra...)...)
		}
		running := 0.0
		if isLive(ct.State) {
			running = 1
		}
		gauge(runningDesc, running)
		counter(restartsDesc, float64(ct.RestartCount))
		counter(oomKillsDesc, float64(c.rec.oomKillsOf(ct.ID)))
		if ct.Health != "" && ct.Health != container.NoHealthcheck {
			for _, h := range healthStatuses {
				v := 0.0
				if h == ct.Health {
					v = 1
				}
				gauge(healthDesc, v, string(h))
			}
		}
		if s := stats[i]; s != nil {
			emitStats(s, gauge, counter)
		}
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorsDesc, prometheus.GaugeValue, float64(failed))
}

// isLive reports whether a container in state s has a process whose stats
// can be read.
func isLive(s container.ContainerState) bool {
	return s == container.StateRunning || s == container.StatePaused
}

func labelValues(ct Container) []string {
	return []string{
		ct.ID, strings.TrimPrefix(ct.Name, "/"), ct.Image,
		ct.Labels[composeProjectLabel], ct.Labels[composeServiceLabel],
	}
}

// readStats samples every live container, at most c.concurrency at a time,
// giving each c.timeout and the whole scrape c.budget. stats[i] is nil for
// a container not sampled.
func (c *containerCollector) readStats(cs []Container) (stats []*container.StatsResponse, failed int) {
	stats = make([]*container.StatsResponse, len(cs))
	ok := make([]bool, len(cs))
	scrape, cancel := context.WithTimeout(context.Background(), c.budget)
	defer cancel()
	var wg sync.WaitGroup
	for i, ct := range cs {
		if !isLive(ct.State) {
			ok[i] = true
			continue
		}
		wg.Go(func() {
			s, err := c.statsWithin(scrape, ct.ID)
			if err != nil {
				logrus.WithError(err).WithField("container", ct.ID).Debug("metrics: no stats for container")
				return
			}
			stats[i], ok[i] = s, true
		})
	}
	wg.Wait()
	for _, o := range ok {
		if !o {
			failed++
		}
	}
	return stats, failed
}

// statsWithin reads one container's stats once a read slot is free,
// giving up after c.timeout even when the Source does not honour its
// context. The slot stays taken until the read really returns, so a Source
// that hangs can never have more than c.concurrency reads outstanding.
func (c *containerCollector) statsWithin(scrape context.Context, id string) (*container.StatsResponse, error) {
	select {
	case c.slots <- struct{}{}:
	case <-scrape.Done():
		return nil, scrape.Err()
	}
	ctx, cancel := context.WithTimeout(scrape, c.timeout)
	defer cancel()
	type result struct {
		s   *container.StatsResponse
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-c.slots }()
		s, err := c.src.Stats(ctx, id)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type emitFunc func(d *prometheus.Desc, v float64, extra ...string)

func emitStats(s *container.StatsResponse, gauge, counter emitFunc) {
	const ns = float64(time.Second)
	cpu := s.CPUStats.CPUUsage
	counter(cpuDesc, float64(cpu.TotalUsage)/ns)
	counter(cpuUserDesc, float64(cpu.UsageInUsermode)/ns)
	counter(cpuSystemDesc, float64(cpu.UsageInKernelmode)/ns)
	gauge(memUsageDesc, float64(MemoryUsage(s.MemoryStats)))
	gauge(memLimitDesc, float64(s.MemoryStats.Limit))
	gauge(pidsDesc, float64(s.PidsStats.Current))
	for name, n := range s.Networks {
		counter(netRxBytesDesc, float64(n.RxBytes), name)
		counter(netTxBytesDesc, float64(n.TxBytes), name)
		counter(netRxPktsDesc, float64(n.RxPackets), name)
		counter(netTxPktsDesc, float64(n.TxPackets), name)
		counter(netRxErrsDesc, float64(n.RxErrors), name)
		counter(netTxErrsDesc, float64(n.TxErrors), name)
	}
	read, write := blkioBytes(s.BlkioStats.IoServiceBytesRecursive)
	counter(blkReadDesc, float64(read))
	counter(blkWriteDesc, float64(write))
}

// MemoryUsage is the figure `docker stats` shows as MEM USAGE: the
// cgroup's usage less its inactive file cache (total_inactive_file on
// cgroup v1, inactive_file on v2), which the kernel can drop at will.
func MemoryUsage(m container.MemoryStats) uint64 {
	for _, key := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := m.Stats[key]; ok {
			if v < m.Usage {
				return m.Usage - v
			}
			return m.Usage
		}
	}
	return m.Usage
}

// blkioBytes sums the bytes read and written over every device, as docker
// stats' BLOCK I/O does (v1 spells the ops "Read", v2 "read").
func blkioBytes(entries []container.BlkioStatEntry) (read, write uint64) {
	for _, e := range entries {
		switch strings.ToLower(e.Op) {
		case "read":
			read += e.Value
		case "write":
			write += e.Value
		}
	}
	return read, write
}
