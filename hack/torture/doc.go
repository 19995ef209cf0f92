// Command torture is the crash-anywhere campaign of issue #19: it starts a
// berthd on private roots (data-root, exec-root, socket, pidfile, bridge,
// nft table, address pool 10.211.0.0/16 or -pool), drives a random workload at it
// from a few goroutines through the Go client, SIGKILLs the daemon at a
// random instant, restarts it and checks the invariants a crash must not
// break: everything the API lists is inspectable and usable, what the API
// acknowledged is still there, and nothing on the host (mounts, cgroups,
// links, nft rules, IPAM addresses, shims, processes) is left that the
// daemon does not account for. Its data-root is a loop-mounted ext4 of
// its own (-disk MiB), which one round in four (-full-every) fills before the
// workload starts: the operations then meet ENOSPC, the kill comes on the
// full disk, and the same checks run once the space is back (issue #19,
// "Full disk"). It prints one table at the end.
//
//	go run ./hack/torture -berthd bin/berthd [-rounds N] [-seed S] [-disk MiB] [-full-every N]
//
// `make torture` runs the short form; TORTURE=long the long one. The exit
// status is 1 when any invariant was violated. Everything the run creates
// is removed at the end, also on failure or interrupt; -keep leaves the
// root (daemon log, data-root) for a post-mortem.
//
// -points (points.go, pointcases.go) kills at named places instead of at
// random instants: it builds berthd with -tags berth_faults (the hook of
// pkg/faultpoint), and for every fault point arms it through BERTH_FAULT,
// runs the operation that reaches it, restarts the daemon unarmed and
// runs the same checks. Points in the daemon must kill it; points in a
// shim or a runtime stage kill that process, and the daemon must live on,
// notice and clean up. It prints one row per point (-point REGEXP runs
// some).
//
// After the crash campaign come the load, scale and soak scenarios
// (load.go, scale.go, soak.go; -scenarios picks among the four), each on
// a berthd of its own under the run's root, measured rather than
// killed: many API clients at once, many running containers and
// restarts of their daemon, and long churn with leak counts. Their rows
// go in the same table, with the daemon's RSS and fd growth.
package main
