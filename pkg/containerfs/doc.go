// Package containerfs runs file operations with a container's root as the
// root directory, so that the kernel, not a path check, keeps them inside
// it.
//
// A View is one OS thread, locked to one goroutine, that has left the
// process's shared filesystem context (unshare CLONE_FS) and mount
// namespace (CLONE_NEWNS) and chrooted into the container's root. Every
// path the functions run in the view resolve (absolute symlinks, "..",
// a directory swapped for a symlink between two calls) stays under that
// root, which is the defence against the CVE-2018-15664 class: a check
// done on a path string and the use that follows can disagree, but no
// resolution on this thread can leave the root. Mounts made in the view
// (a stopped container's root and volumes) live in the thread's private
// mount namespace and vanish with the thread, so nothing leaks onto the
// host even after a crash.
//
// The package imports nothing from berth; the daemon decides what to
// mount.
package containerfs
