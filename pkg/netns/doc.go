// Package netns owns network namespaces that no process holds: one is
// made on a locked thread and pinned by a bind mount of its nsfs file at a
// path, as `ip netns add` does, and lives until that mount goes. The
// engine gives such a namespace to a build step before the step's
// process exists, so that the step starts with its network ready.
package netns
