package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry gathers everything /metrics serves: the recorder's
// histograms and counters, the engine's and the containers' figures read
// from src at scrape time, and the Go runtime and process collectors that
// dockerd's default registry also carries.
func NewRegistry(rec *Recorder, src Source) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		engineCollector{src: src},
		newContainerCollector(src, rec, statsConcurrency, statsTimeout, scrapeBudget),
	)
	if rec != nil {
		reg.MustRegister(rec.collectors()...)
	}
	return reg
}

// Handler serves reg in the Prometheus text (or negotiated) format.
func Handler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
