// Package userdb reads a container's /etc/passwd and /etc/group on behalf
// of the engine (user lookups for create, start, exec, health probes,
// `docker cp -a` and the builder's --chown) without letting the container
// reach or stall the caller.
//
// The files are the container's to shape: a FIFO blocks a plain open for
// ever, a device node runs a driver's open on the host, an absolute
// symlink points a path-based open at a host file, and a directory swapped
// for a symlink between a check and an open does the same. So a file is
// opened beneath the container's root directory descriptor with openat2
// (RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS, O_PATH|O_NOFOLLOW), checked with
// fstat to be a regular file no larger than MaxFileSize, and only then
// reopened for reading through its descriptor (O_NONBLOCK). A file that
// cannot be opened that way reads as no entries, as dockerd treats a
// missing or non-regular one (numeric IDs resolve, names do not); one that
// was opened but not read whole makes the lookup fail rather than use a
// part.
//
// Parsing and the user-spec rules are github.com/moby/sys/user's, the ones
// runc and dockerd apply.
package userdb
