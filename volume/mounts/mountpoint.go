package mounts

import (
	"github.com/moby/moby/api/types/mount"
)

// MountPoint is one normalised mount of a container. The container code
// persists it with the container (the JSON field names are stable).
type MountPoint struct {
	// Type is bind, volume, tmpfs or image.
	Type mount.Type `json:",omitempty"`
	// Source is the host path of a bind mount. For a volume it is empty
	// until the volume is mounted, then the host path the volume service
	// returned.
	Source string
	// Destination is the clean absolute path inside the container.
	Destination string
	// RW is false for a read-only mount.
	RW bool
	// Name is the volume name; empty for an anonymous volume that the
	// caller still has to create.
	Name string `json:",omitempty"`
	// Driver is the volume driver asked for; empty means the default (or
	// whichever driver already has a volume of that name).
	Driver string `json:",omitempty"`
	// Mode is the option string of a `-v` spec as the user wrote it
	// ("ro,z"), kept for inspect and relabelling.
	Mode string `json:",omitempty"`
	// Propagation applies to bind mounts (rprivate unless given).
	Propagation mount.Propagation `json:",omitempty"`
	// CopyData is true when the image's content at Destination is to be
	// copied into the volume while the volume is still empty (dockerd's
	// default; `nocopy` and `volume-nocopy` turn it off).
	CopyData bool `json:",omitempty"`
	// TmpfsOptions is the mount data of a tmpfs ("size=65536k,mode=1777"),
	// without the defaults the runtime adds (see TmpfsMountOptions).
	TmpfsOptions string `json:",omitempty"`
	// Spec is the API request this mount came from.
	Spec mount.Mount
	// SkipMountpointCreation is set for `--mount type=bind`: a missing
	// source is an error there, not something to create (unlike `-v`).
	SkipMountpointCreation bool `json:",omitempty"`
}

// Anonymous reports whether the mount needs an anonymous volume created.
func (m *MountPoint) Anonymous() bool {
	return m.Type == mount.TypeVolume && m.Name == ""
}

// Subpath is the volume-subpath (image-subpath for an image mount) the
// mount asks for, "" for the whole volume or image.
func (m *MountPoint) Subpath() string {
	if m.Type == mount.TypeImage {
		if m.Spec.ImageOptions != nil {
			return m.Spec.ImageOptions.Subpath
		}
		return ""
	}
	if m.Spec.VolumeOptions != nil {
		return m.Spec.VolumeOptions.Subpath
	}
	return ""
}

// VolumeLabels are the labels `--mount volume-label=` asks for a volume
// created by this mount.
func (m *MountPoint) VolumeLabels() map[string]string {
	if m.Spec.VolumeOptions != nil {
		return m.Spec.VolumeOptions.Labels
	}
	return nil
}

// VolumeDriverOptions are the `volume-opt=` options for a volume created
// by this mount.
func (m *MountPoint) VolumeDriverOptions() map[string]string {
	if m.Spec.VolumeOptions != nil && m.Spec.VolumeOptions.DriverConfig != nil {
		return m.Spec.VolumeOptions.DriverConfig.Options
	}
	return nil
}

// ReadOnlyRecursion says how a read-only mount treats the mounts below it:
// nonRecursive leaves sub-mounts writable (`ro-non-recursive`,
// bind-recursive=writable), force fails the mount when the kernel cannot
// make them read-only too (`rro`, bind-recursive=readonly). Both false
// means read-only recursively where the kernel can.
func (m *MountPoint) ReadOnlyRecursion() (nonRecursive, force bool) {
	if b := m.Spec.BindOptions; b != nil {
		nonRecursive, force = b.ReadOnlyNonRecursive, b.ReadOnlyForceRecursive
	}
	for _, o := range splitMode(m.Mode) {
		switch o {
		case "ro-non-recursive":
			nonRecursive = true
		case "ro-force-recursive", "rro":
			force = true
		}
	}
	return nonRecursive, force
}

// Recursive is false for a bind mount asked with bind-recursive=disabled.
func (m *MountPoint) Recursive() bool {
	return m.Spec.BindOptions == nil || !m.Spec.BindOptions.NonRecursive
}
