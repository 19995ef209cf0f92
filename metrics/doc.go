// Package metrics owns berthd's Prometheus endpoint (metrics-addr): dockerd's
// engine_daemon_* metrics under their dockerd names, the builder's, and —
// beyond dockerd — per-container resource and lifecycle figures labelled by
// container, image and compose project/service, so that no cAdvisor is
// needed beside the engine.
//
// The daemon records what happens (Recorder: action timings, health checks,
// OOM kills) and answers what is (Source: containers, their stats, engine
// facts) through small interfaces; nothing here imports the daemon.
// Per-container figures are read at scrape time from the same source as
// `docker stats`, with a bounded number of concurrent reads and a short
// timeout per container, never by polling in the background.
package metrics
