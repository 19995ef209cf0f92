// Package volume defines what every volume driver and volume provides (the
// Driver and Volume interfaces), the names the engine shares about volumes
// (the default driver, the anonymous-volume label) and the driver-side
// errors the service classifies.
//
// The implementations live in sub-packages, each owning one noun:
// local (the built-in driver), plugin (v1 volume plugins over HTTP),
// mounts (parsing and validating -v / --mount specs), copyup (seeding a new
// volume from an image directory) and service (named volumes, references,
// persistence; what the daemon and the container code call).
package volume
