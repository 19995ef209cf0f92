// Package mounts parses and validates the ways a container asks for
// mounts — `-v` strings (HostConfig.Binds), HostConfig.Mounts (`--mount`),
// HostConfig.Tmpfs (`--tmpfs`), Config.Volumes (image VOLUMEs and the CLI's
// anonymous `-v /path`) and `--volumes-from` — into one normalised list of
// MountPoints, with dockerd's rules and error messages.
//
// Everything here is a pure function of its input (apart from checking
// that a `--mount type=bind` source exists): creating volumes, mounting
// them and copying image content into them is the caller's job, through
// the volume service.
package mounts
