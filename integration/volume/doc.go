// Package volume tests the volume API end to end through the real docker
// CLI (and plain HTTP where the CLI cannot reach a case): create, ls with
// each filter, inspect, rm, prune, driver options, events, system df,
// persistence across a restart and a v1 volume plugin served by the test.
package volume
