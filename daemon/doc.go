// Package daemon is the engine: it owns the configuration, the event bus and
// the managers (containers, images, networks, volumes), wires them together,
// implements the backend interfaces the API routers call, and runs startup,
// restore, reload and shutdown.
//
// # Background work
//
// Every goroutine the daemon starts for no request, or that outlives the
// request that started it (exit watchers, restart back-offs, health checks,
// log forwarders, restore, detached execs), runs through Daemon.life
// (lifetime.go). Shutdown first ends restart back-offs and policies, stops
// the containers (unless live-restore), then cancels the lifetime's context
// and waits a bounded time for that work. Request-scoped work uses the
// request's context; work that must finish once begun, even when the client
// hangs up or the daemon stops (undoing a container's network and mounts, a
// stop's SIGKILL), uses context.WithoutCancel.
//
// # Lock order
//
// A goroutine that holds a lock takes only locks further down this list,
// never one above it:
//
//  1. A container's lock (ctr.Container, also the lock of live.fsFree). The
//     lock of a container it depends on (the container:<id> whose network,
//     PID or IPC namespace or files it joins, a link's target, a
//     --volumes-from source) may be taken under it, briefly, to read; never
//     the other way round, and never two unrelated containers at once.
//  2. The managers' own locks, which the daemon reaches by calling them
//     (container.Store, image.Service, the network manager, the volume
//     service, the plugin manager and registry). They call back into the
//     daemon only through functions that take no lock of the daemon's
//     except a container's, and then before taking their own (the image
//     service's usage snapshot, the plugin manager's in-use check under its
//     operation lock only).
//  3. The daemon's small locks, each held only to read or change what it
//     guards, so never two of them at once: Daemon.liveMu (the lives map),
//     a live.mu (one container's runtime state), Daemon.execMu (the execs),
//     an execConfig's mu, logForwards.mu, lifetime.mu, and a container
//     State's own lock (its waiters).
//  4. Daemon.mu (configuration and authz chain): the last; nothing is
//     called under it, so Config() may be read under any other lock.
//
// The event bus's lock is a leaf too: events are logged under any of these.
package daemon
