// Package plugin owns managed (v2) plugins, dockerd's `docker plugin`: the
// store of installed plugins under DATA_ROOT/plugins (one directory per
// plugin ID with its record, its root filesystem and the blobs it was
// made from, for push), their settings, and their life as processes.
//
// A plugin is a root filesystem and a config (the
// application/vnd.docker.plugin.v1+json of a registry manifest). Enabling
// it runs its entrypoint in that root through a shim, as a container
// runs, with the host directory EXEC_ROOT/plugins/<id> at
// /run/docker/plugins, where it makes the socket named by its config; the
// engine then talks to it over that socket with the v1 plugin protocol
// (volume/plugin). The manager is given what it needs from the rest of the
// engine (a registry client, events) as functions, so that it imports only
// pkg/.
package plugin
