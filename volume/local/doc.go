// Package local is the built-in `local` volume driver: one directory per
// volume at DATA_ROOT/volumes/NAME/_data (dockerd's layout, so a data-root
// can move between the two), optionally backed by a mount that the driver
// makes on the first container mount and undoes on the last release
// (`--opt type=tmpfs --opt device=tmpfs --opt o=size=64m,uid=1000`, or
// `--opt type=none --opt o=bind --opt device=/host/dir`).
//
// The driver persists only what dockerd's local driver persists (the mount
// options, in NAME/opts.json); labels and the like belong to the volume
// service.
package local
