// Package runtime owns turning an OCI runtime spec and a root filesystem
// into an isolated process, the job runc does for dockerd: namespaces,
// mounts, pivot_root, devices, masked and read-only paths, hostname,
// sysctls, rlimits, user and groups, capabilities, no_new_privs, seccomp,
// then execve of the user's program; and joining a running container's
// namespaces for exec.
//
// The work inside the new namespaces is done by a re-exec of the current
// binary (the "init stage"). That re-exec never runs a file the container
// could write: the binary is first copied into a sealed memfd and the
// stage is executed from there (the CVE-2019-5736 class). Before the final
// execve every inherited descriptor but stdio is marked close-on-exec and
// the working directory is checked to lie inside the container (the
// CVE-2024-21626 class).
//
// A program that links this package becomes able to act as the stage: the
// package's init function runs it (and never returns) when the process was
// started as one, before the rest of the program initialises.
//
// Containers are created in two steps like runc: Create leaves the init
// stage waiting on an exec FIFO in the state directory with everything
// set up, Start releases it. State lives in Root/<id>/state.json. An
// Ephemeral container (the shim's: its creator holds it for its whole
// life) has no state directory; its init waits on a pipe instead.
package runtime
