// Package servertest drives routers through the real API server's
// middleware in memory, for the routers' fuzz targets: a request goes in
// as raw parts (version, path, query, body) and the recorded response
// comes out, with a check that no panic reached the client.
package servertest
