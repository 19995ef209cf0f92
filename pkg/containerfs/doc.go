// Package containerfs runs file operations with a container's root as the
// root directory, so that the kernel, not a path check, keeps them inside
// it.
//
// A View is one OS thread, locked to one goroutine, that has left the
// process's shared filesystem context (unshare CLONE_FS) and mount
// namespace (CLONE_NEWNS) and chrooted into the container's root. Mounts
// made in the view (a stopped container's root and volumes) live in the
// thread's private mount namespace and vanish with the thread, so nothing
// leaks onto the host even after a crash.
//
// The chroot is not a boundary: the kernel follows /proc magic links out
// of it, and a container whose /proc shows host processes (--pid host, a
// bind of the host's /proc) has the host's root at /proc/<pid>/root. Paths
// of a container are resolved on the view's root descriptor (View.Root)
// with OpenInRoot: openat2 RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS keeps ".."
// and absolute symlinks at the root and refuses magic links. Resolve once
// to a descriptor and work on descriptors from there: a directory swapped
// for a symlink between a check and a use (the CVE-2018-15664 class)
// changes nothing then.
//
// The package imports nothing from berth; the daemon decides what to
// mount.
package containerfs
