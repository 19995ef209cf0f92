// Package service owns the engine's volumes: which volumes exist under
// which driver, their labels and options (persisted atomically under
// DATA_ROOT/volumes/_meta, one file per volume), which containers use them
// (references, so "in use" can be answered) and which containers have them
// mounted (so a driver mounts on the first and unmounts on the last).
//
// It is what the daemon serves the volume API from and what the container
// code calls to create, reference, mount, unmount and release the volumes
// of a container. References and mounts live in memory: after a daemon
// restart the container code takes them again while it restores its
// containers, and then calls UnmountUnused.
package service
