// Package seccomp owns the translation of an OCI seccomp section
// (specs.LinuxSeccomp, e.g. the moby default profile) into a BPF filter and
// its loading into the calling thread. It uses libseccomp (Debian's
// libseccomp-dev at build time, libseccomp2 at run time) because libseccomp
// knows every architecture's syscall numbers and the multiplexed socketcall
// and ipc calls, which a hand-written compiler would have to re-learn.
//
// A filter applies to the thread that loads it and is inherited across
// execve, so the runtime loads it on the locked thread that then execs.
package seccomp
