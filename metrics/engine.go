package metrics

import (
	"github.com/moby/moby/api/types/container"
	"github.com/prometheus/client_golang/prometheus"
)

func engineDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("engine_daemon_"+name, help, labels, nil)
}

var (
	engineInfoDesc = engineDesc("engine_info", "The information related to the engine and the OS it is running on",
		"version", "commit", "architecture", "graphdriver", "kernel", "os", "os_type", "os_version", "daemon_id")
	// dockerd's gauge has the unit "cpus", hence the doubled word.
	engineCPUsDesc   = engineDesc("engine_cpus_cpus", "The number of cpus that the host system of the engine has")
	engineMemoryDesc = engineDesc("engine_memory_bytes", "The number of bytes of memory that the host system of the engine has")
	statesDesc       = engineDesc("container_states_containers", "The count of containers in various states", "state")
	eventsDesc       = engineDesc("events_total", "The number of events logged")
	subscribersDesc  = engineDesc("events_subscribers_total", "The number of current subscribers to events")
)

// engineCollector reports dockerd's engine-wide figures from the Source
// at scrape time, so that none of them can drift from what the engine
// holds.
type engineCollector struct{ src Source }

func (c engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{engineInfoDesc, engineCPUsDesc, engineMemoryDesc, statesDesc, eventsDesc, subscribersDesc} {
		ch <- d
	}
}

func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.src.Engine()
	ch <- prometheus.MustNewConstMetric(engineInfoDesc, prometheus.GaugeValue, 1,
		e.Version, e.Commit, e.Architecture, e.GraphDriver, e.Kernel, e.OS, e.OSType, e.OSVersion, e.DaemonID)
	ch <- prometheus.MustNewConstMetric(engineCPUsDesc, prometheus.GaugeValue, float64(e.CPUs))
	ch <- prometheus.MustNewConstMetric(engineMemoryDesc, prometheus.GaugeValue, float64(e.MemoryBytes))

	running, paused, stopped := countStates(c.src.Containers())
	ch <- prometheus.MustNewConstMetric(statesDesc, prometheus.GaugeValue, float64(running), "running")
	ch <- prometheus.MustNewConstMetric(statesDesc, prometheus.GaugeValue, float64(paused), "paused")
	ch <- prometheus.MustNewConstMetric(statesDesc, prometheus.GaugeValue, float64(stopped), "stopped")

	published, subscribers := c.src.Events()
	ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(published))
	ch <- prometheus.MustNewConstMetric(subscribersDesc, prometheus.GaugeValue, float64(subscribers))
}

// countStates sorts containers into dockerd's three buckets: a container
// restarting is between runs, so it counts as stopped, as dockerd marks it
// when its process exits; a removing one counts as what it was, stopped.
func countStates(cs []Container) (running, paused, stopped int) {
	for _, c := range cs {
		switch c.State {
		case container.StateRunning:
			running++
		case container.StatePaused:
			paused++
		default:
			stopped++
		}
	}
	return running, paused, stopped
}
