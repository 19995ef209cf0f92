package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Build failure reasons, as dockerd's builder labels builds_failed_total.
const (
	BuildCanceled = "build_canceled"
	// BuildErrorProcessingCommands is dockerd's reason for a build that
	// failed while running its instructions (a RUN that exits non-zero).
	BuildErrorProcessingCommands = "error_processing_commands_error"
)

// The container actions dockerd times; their series exist from the first
// scrape so that a rate over them is defined before the first action.
var containerActions = []string{"start", "changes", "commit", "create", "delete"}

// Recorder is what the daemon tells the metrics as it works: how long each
// action took, each health check, each OOM kill. A nil *Recorder records
// nothing, so an engine built without one needs no checks.
type Recorder struct {
	containerActions *prometheus.HistogramVec
	networkActions   *prometheus.HistogramVec
	imageActions     *prometheus.HistogramVec
	healthChecks     prometheus.Counter
	healthFailed     prometheus.Counter
	buildsTriggered  prometheus.Counter
	buildsFailed     *prometheus.CounterVec

	mu       sync.Mutex
	oomKills map[string]uint64 // by container ID, since the daemon started
}

// NewRecorder makes a Recorder whose metrics carry dockerd's names.
func NewRecorder() *Recorder {
	timer := func(name, help, label string) *prometheus.HistogramVec {
		// docker/go-metrics' labelled timers are histograms with the
		// default buckets, named <namespace>_<name>_seconds.
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "engine", Subsystem: "daemon", Name: name + "_seconds", Help: help,
		}, []string{label})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "engine", Subsystem: "daemon", Name: name + "_total", Help: help})
	}
	r := &Recorder{
		containerActions: timer("container_actions", "The number of seconds it takes to process each container action", "action"),
		networkActions:   timer("network_actions", "The number of seconds it takes to process each network action", "action"),
		imageActions:     timer("image_actions", "The number of seconds it takes to process each image action", "action"),
		healthChecks:     counter("health_checks", "The total number of health checks"),
		healthFailed:     counter("health_checks_failed", "The total number of failed health checks"),
		buildsTriggered: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "builder", Name: "builds_triggered_total", Help: "Number of triggered image builds",
		}),
		buildsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "builder", Name: "builds_failed_total", Help: "Number of failed image builds",
		}, []string{"reason"}),
		oomKills: map[string]uint64{},
	}
	// dockerd observes a zero for each of these at start, which counts one
	// action that never happened; creating the series is enough.
	for _, a := range containerActions {
		r.containerActions.WithLabelValues(a)
	}
	for _, reason := range []string{BuildCanceled, BuildErrorProcessingCommands} {
		r.buildsFailed.WithLabelValues(reason)
	}
	return r
}

func (r *Recorder) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		r.containerActions, r.networkActions, r.imageActions,
		r.healthChecks, r.healthFailed, r.buildsTriggered, r.buildsFailed,
	}
}

// ContainerAction records a container action (create, start, stop, delete,
// commit, changes, …) that began at start.
func (r *Recorder) ContainerAction(action string, start time.Time) {
	if r != nil {
		r.containerActions.WithLabelValues(action).Observe(time.Since(start).Seconds())
	}
}

// NetworkAction records a network action (create, delete, connect,
// disconnect, allocate, release) that began at start.
func (r *Recorder) NetworkAction(action string, start time.Time) {
	if r != nil {
		r.networkActions.WithLabelValues(action).Observe(time.Since(start).Seconds())
	}
}

// ImageAction records an image action (pull, push, delete, history) that
// began at start.
func (r *Recorder) ImageAction(action string, start time.Time) {
	if r != nil {
		r.imageActions.WithLabelValues(action).Observe(time.Since(start).Seconds())
	}
}

// HealthCheck counts one health probe, and a failed one twice over as
// dockerd does (health_checks_total counts them all).
func (r *Recorder) HealthCheck(failed bool) {
	if r == nil {
		return
	}
	r.healthChecks.Inc()
	if failed {
		r.healthFailed.Inc()
	}
}

// BuildTriggered counts a build as it starts.
func (r *Recorder) BuildTriggered() {
	if r != nil {
		r.buildsTriggered.Inc()
	}
}

// BuildFailed counts a failed build under one of the Build* reasons.
func (r *Recorder) BuildFailed(reason string) {
	if r != nil {
		r.buildsFailed.WithLabelValues(reason).Inc()
	}
}

// OOMKill counts an OOM kill in container id. The counts live in memory:
// a restarted daemon counts afresh.
func (r *Recorder) OOMKill(id string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.oomKills[id]++
	r.mu.Unlock()
}

// Forget drops what the recorder keeps for a removed container.
func (r *Recorder) Forget(id string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	delete(r.oomKills, id)
	r.mu.Unlock()
}

// oomKillsOf is how many OOM kills container id has had since the daemon
// started.
func (r *Recorder) oomKillsOf(id string) uint64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.oomKills[id]
}
