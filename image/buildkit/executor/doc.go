// Package executor owns running BuildKit's build steps on berth's own
// runtime: it implements BuildKit's executor.Executor (Run for a RUN step or
// a gateway container, Exec for a second process in it) over pkg/runtime,
// the same namespaces, mounts, capabilities, seccomp profile and sealed
// init stage that berth's containers get, without runc or containerd.
//
// A step's root and mounts arrive as BuildKit snapshot mountables; the
// executor mounts the root under Options.Root for the step's life, lets
// the runtime set up the rest inside the step's mount namespace, and
// unmounts everything when the step ends or its context is cancelled.
//
// The network of a step is none (its own empty namespace), host, or the
// engine's default network through a NetworkProvider that the daemon
// supplies (a namespace joined to the default bridge).
package executor
