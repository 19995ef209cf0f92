// Package metrics tests metrics-addr end to end: a berthd serving
// /metrics, scraped and parsed as Prometheus would, checked against what
// `docker stats`, `docker inspect` and `docker info` say.
package metrics
