// Package metricstest finds samples in gathered or scraped Prometheus
// metric families, for the tests of the metrics endpoint at every level
// (collectors, the daemon's wiring, a scraped berthd).
package metricstest
