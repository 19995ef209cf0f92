// Package servertest drives routers through the real API server's
// middleware in memory, for the routers' fuzz targets and table tests: a
// request goes in as raw parts (version, path, query, body) and the
// recorded response comes out, with a check that no panic reached the
// client (CheckBody) or that the status and body are the expected ones
// (Run).
package servertest
