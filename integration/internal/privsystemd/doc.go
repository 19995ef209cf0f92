// Package privsystemd runs a private systemd for a test, through
// hack/private-systemd.sh (which the benchmark uses too): systemd as PID 1
// of a new PID, mount and UTS namespace, with its own /run (and in it a
// D-Bus system bus from dbus-daemon), booting a target that wants nothing
// but the bus. Its cgroup tree lives in a cgroup of its own on every
// hierarchy, which it takes for its root, so it touches nothing of the
// host's cgroups outside that subtree.
//
// systemd resolves the PIDs a client hands it (a scope's first process)
// in its own PID namespace, so the daemon under test runs inside that
// namespace, and its mount namespace for a /proc that matches: see
// harness.Options.Namespaces. Stop SIGKILLs systemd, which ends every
// process of its namespace (the daemon, shims and containers), and
// removes the cgroup tree.
package privsystemd
