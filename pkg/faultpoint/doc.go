// Package faultpoint owns the named crash points of the engine: places in
// a crash-critical sequence (a layer written but its image not recorded, a
// shim launched but its state not saved, ...) where a test wants the
// process to die by SIGKILL, to prove that the next start recovers.
//
// Without the build tag berth_faults, Hit is an empty function that the
// compiler inlines away: release binaries carry no hook and pay nothing.
// With the tag (go build -tags berth_faults, as hack/torture -points
// does), the environment variable BERTH_FAULT names the point, and an
// optional count:
//
//	BERTH_FAULT=container.start.after-shim      the first hit kills
//	BERTH_FAULT=image.load.after-layers:3       the third hit kills
//
// The process that reaches the point SIGKILLs itself, after a line on
// standard error that names the point (the torture harness reads it from
// the daemon's log to tell a fault-point death from a crash).
//
// Shims and the runtime's stages do not inherit the daemon's environment;
// Env is what a launcher adds to theirs so that the points inside them
// (shim.*, stage.*) can fire too.
package faultpoint

// EnvVar names the point to fire, as name[:count].
const EnvVar = "BERTH_FAULT"
