package mounts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/mount"

	"github.com/berthd/berth/pkg/errdefs"
)

// The error texts below are dockerd's, word for word: clients and scripts
// match on them.

// ErrVolumeTargetIsRoot is returned when a mount's destination is "/".
var ErrVolumeTargetIsRoot = errors.New("invalid specification: destination can't be '/'")

var (
	errAnonymousVolumeWithSubpath = errors.New("must not set Subpath when using anonymous volumes")
	errInvalidSubpath             = errors.New("subpath must be a relative path within the volume")
)

// mountConfigError is dockerd's errMountConfig: it names the mount type.
type mountConfigError struct {
	typ mount.Type
	err error
}

func (e *mountConfigError) Error() string {
	return fmt.Sprintf("invalid mount config for type %q: %v", e.typ, e.err)
}

func (e *mountConfigError) Unwrap() error { return e.err }

func configErr(m *mount.Mount, err error) error {
	return errdefs.InvalidParameter(&mountConfigError{typ: m.Type, err: err})
}

func errBindSourceDoesNotExist(p string) error {
	return fmt.Errorf("bind source path does not exist: %s", p)
}
func errExtraField(name string) error   { return fmt.Errorf("field %s must not be specified", name) }
func errMissingField(name string) error { return fmt.Errorf("field %s must not be empty", name) }
func errInvalidMode(mode string) error  { return fmt.Errorf("invalid mode: %v", mode) }
func errInvalidSpec(spec string) error {
	return fmt.Errorf("invalid volume specification: '%s'", spec)
}

// Mode words a `-v` spec may carry after the destination, by class; at
// most one of each class may appear.
var (
	rwModes = map[string]bool{
		"rw": true,
		"ro": true, // recursive read-only where the kernel can
		// Since API 1.44: explicit recursive-read-only choices.
		"ro-non-recursive":   true,
		"ro-force-recursive": true,
		"rro":                true, // alias of ro-force-recursive
	}
	labelModes       = map[string]bool{"z": true, "Z": true}
	propagationModes = map[mount.Propagation]bool{
		mount.PropagationPrivate:  true,
		mount.PropagationRPrivate: true,
		mount.PropagationSlave:    true,
		mount.PropagationRSlave:   true,
		mount.PropagationShared:   true,
		mount.PropagationRShared:  true,
	}
	copyModes        = map[string]bool{"nocopy": false} // value: copy enabled
	consistencyModes = map[mount.Consistency]bool{
		mount.ConsistencyFull:      true,
		mount.ConsistencyCached:    true,
		mount.ConsistencyDelegated: true,
	}
)

// DefaultPropagation is a bind mount's propagation when none is given.
const DefaultPropagation = mount.PropagationRPrivate

func validMountMode(mode string) bool {
	if mode == "" {
		return true
	}
	var rw, label, prop, cp, consistency int
	for _, o := range strings.Split(mode, ",") {
		switch {
		case rwModes[o]:
			rw++
		case labelModes[o]:
			label++
		case propagationModes[mount.Propagation(o)]:
			prop++
		case hasKey(copyModes, o):
			cp++
		case consistencyModes[mount.Consistency(o)]:
			consistency++
		default:
			return false
		}
	}
	return rw <= 1 && label <= 1 && prop <= 1 && cp <= 1 && consistency <= 1
}

func hasKey(m map[string]bool, k string) bool { _, ok := m[k]; return ok }

func propagationOf(mode string) (mount.Propagation, bool) {
	for _, o := range strings.Split(mode, ",") {
		if p := mount.Propagation(o); propagationModes[p] {
			return p, true
		}
	}
	return DefaultPropagation, false
}

func copyModeOf(mode string) (copyData, set bool) {
	for _, o := range strings.Split(mode, ",") {
		if enabled, ok := copyModes[o]; ok {
			return enabled, true
		}
	}
	return true, false
}

// ReadWrite reports whether a `-v` mode string leaves the mount writable.
// An invalid mode is read-only, so that a bug never grants write access.
func ReadWrite(mode string) bool {
	if !validMountMode(mode) {
		return false
	}
	for _, o := range strings.Split(mode, ",") {
		switch o {
		case "ro", "ro-non-recursive", "ro-force-recursive", "rro":
			return false
		}
	}
	return true
}

func validateNotRoot(p string) error {
	if path.Clean(strings.ReplaceAll(p, `\`, `/`)) == "/" {
		return ErrVolumeTargetIsRoot
	}
	return nil
}

func validateAbsolute(p string) error {
	p = strings.ReplaceAll(p, `\`, `/`)
	if path.IsAbs(p) {
		return nil
	}
	return fmt.Errorf("invalid mount path: '%s' mount path must be absolute", p)
}

// ValidateMountConfig checks one HostConfig.Mounts entry, including that a
// bind source exists (unless CreateMountpoint is set).
func ValidateMountConfig(m *mount.Mount) error {
	return validateMountConfig(m, true)
}

func validateMountConfig(m *mount.Mount, checkBindSource bool) error {
	if m.Target == "" {
		return configErr(m, errMissingField("Target"))
	}
	if err := validateNotRoot(m.Target); err != nil {
		return configErr(m, err)
	}
	if err := validateAbsolute(m.Target); err != nil {
		return configErr(m, err)
	}
	switch m.Type {
	case mount.TypeBind:
		if m.Source == "" {
			return configErr(m, errMissingField("Source"))
		}
		if o := m.BindOptions; o != nil && o.Propagation != "" && !propagationModes[o.Propagation] {
			return configErr(m, fmt.Errorf("invalid propagation mode: %s", o.Propagation))
		}
		if m.VolumeOptions != nil {
			return configErr(m, errExtraField("VolumeOptions"))
		}
		if m.TmpfsOptions != nil {
			return configErr(m, errExtraField("TmpfsOptions"))
		}
		if err := validateAbsolute(m.Source); err != nil {
			return configErr(m, err)
		}
		if checkBindSource {
			_, err := os.Stat(m.Source)
			exists := err == nil
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return configErr(m, err)
			}
			create := m.BindOptions != nil && m.BindOptions.CreateMountpoint
			if !exists && !create {
				return configErr(m, errBindSourceDoesNotExist(m.Source))
			}
		}
	case mount.TypeVolume:
		if m.BindOptions != nil {
			return configErr(m, errExtraField("BindOptions"))
		}
		if m.TmpfsOptions != nil {
			return configErr(m, errExtraField("TmpfsOptions"))
		}
		anonymous := m.Source == ""
		if m.VolumeOptions != nil && m.VolumeOptions.Subpath != "" {
			if anonymous {
				return configErr(m, errAnonymousVolumeWithSubpath)
			}
			if !filepath.IsLocal(m.VolumeOptions.Subpath) {
				return configErr(m, errInvalidSubpath)
			}
		}
		if m.ReadOnly && anonymous {
			return configErr(m, errors.New("must not set ReadOnly mode when using anonymous volumes"))
		}
	case mount.TypeTmpfs:
		if m.BindOptions != nil {
			return configErr(m, errExtraField("BindOptions"))
		}
		if m.VolumeOptions != nil {
			return configErr(m, errExtraField("VolumeOptions"))
		}
		if m.Source != "" {
			return configErr(m, errExtraField("Source"))
		}
		if _, err := ConvertTmpfsOptions(m.TmpfsOptions, m.ReadOnly); err != nil {
			return configErr(m, err)
		}
	case mount.TypeImage:
		if m.BindOptions != nil {
			return configErr(m, errExtraField("BindOptions"))
		}
		if m.Source == "" {
			return configErr(m, errMissingField("Source"))
		}
		if m.ImageOptions != nil && m.ImageOptions.Subpath != "" && !filepath.IsLocal(m.ImageOptions.Subpath) {
			return configErr(m, errInvalidSubpath)
		}
	default:
		return configErr(m, errors.New("mount type unknown"))
	}
	return nil
}

// ParseMountRaw parses one `-v` string (an entry of HostConfig.Binds):
// `/host:/dst[:mode]` (bind), `name:/dst[:mode]` (named volume) or `/dst`
// (anonymous volume). volumeDriver is HostConfig.VolumeDriver. A missing
// bind source is not an error here: `-v` creates it, as dockerd does.
func ParseMountRaw(raw, volumeDriver string) (*MountPoint, error) {
	arr := strings.SplitN(raw, ":", 4)
	if arr[0] == "" {
		return nil, errdefs.InvalidParameter(errInvalidSpec(raw))
	}
	var spec mount.Mount
	var mode string
	switch len(arr) {
	case 1:
		spec.Target = arr[0]
	case 2:
		if validMountMode(arr[1]) {
			// "/foo:rw" is a destination with a mode and no source.
			return nil, errdefs.InvalidParameter(errInvalidSpec(raw))
		}
		spec.Source, spec.Target = arr[0], arr[1]
	case 3:
		spec.Source, spec.Target, mode = arr[0], arr[1], arr[2]
	default:
		return nil, errdefs.InvalidParameter(errInvalidSpec(raw))
	}
	if !validMountMode(mode) {
		return nil, errdefs.InvalidParameter(errInvalidMode(mode))
	}
	if path.IsAbs(spec.Source) {
		spec.Type = mount.TypeBind
	} else {
		spec.Type = mount.TypeVolume
	}
	spec.ReadOnly = !ReadWrite(mode)
	if volumeDriver != "" && spec.Type == mount.TypeVolume {
		spec.VolumeOptions = &mount.VolumeOptions{DriverConfig: &mount.Driver{Name: volumeDriver}}
	}
	if copyData, set := copyModeOf(mode); set {
		if spec.VolumeOptions == nil {
			spec.VolumeOptions = &mount.VolumeOptions{}
		}
		spec.VolumeOptions.NoCopy = !copyData
	}
	if p, set := propagationOf(mode); set {
		spec.BindOptions = &mount.BindOptions{Propagation: p}
	}
	mp, err := parseMountSpec(spec, false)
	if err != nil {
		return nil, errdefs.InvalidParameter(fmt.Errorf("%v: %v", errInvalidSpec(raw), err))
	}
	mp.Mode = mode
	return mp, nil
}

// ParseMountSpec validates and normalises one HostConfig.Mounts entry.
func ParseMountSpec(m mount.Mount) (*MountPoint, error) {
	return parseMountSpec(m, true)
}

func parseMountSpec(m mount.Mount, checkBindSource bool) (*MountPoint, error) {
	if err := validateMountConfig(&m, checkBindSource); err != nil {
		return nil, err
	}
	mp := &MountPoint{
		Type:        m.Type,
		RW:          !m.ReadOnly,
		Destination: path.Clean(filepath.ToSlash(m.Target)),
		Spec:        m,
	}
	switch m.Type {
	case mount.TypeVolume:
		mp.Name = m.Source
		mp.CopyData = true
		if o := m.VolumeOptions; o != nil {
			if o.DriverConfig != nil {
				mp.Driver = o.DriverConfig.Name
			}
			if o.NoCopy {
				mp.CopyData = false
			}
		}
	case mount.TypeBind:
		mp.Source = path.Clean(filepath.ToSlash(m.Source))
		mp.Propagation = DefaultPropagation
		if m.BindOptions != nil && m.BindOptions.Propagation != "" {
			mp.Propagation = m.BindOptions.Propagation
		}
		// Only `-v` creates a missing bind source; HostConfig.Mounts
		// creates it only when CreateMountpoint asks.
		mp.SkipMountpointCreation = checkBindSource && (m.BindOptions == nil || !m.BindOptions.CreateMountpoint)
	case mount.TypeTmpfs:
		data, _ := ConvertTmpfsOptions(m.TmpfsOptions, m.ReadOnly)
		mp.TmpfsOptions = data
	case mount.TypeImage:
		// Read-only always; propagation is not configurable, as in dockerd.
		mp.Source = m.Source
		mp.RW = false
		mp.Propagation = DefaultPropagation
	}
	return mp, nil
}

// ParseVolumesFrom splits a `--volumes-from` entry into the container and
// the mode ("rw" when none). Propagation and copy modes are refused: the
// mounts keep their source container's.
func ParseVolumesFrom(spec string) (id, mode string, err error) {
	if spec == "" {
		return "", "", errdefs.InvalidParameterf("volumes-from specification cannot be an empty string")
	}
	id, mode, _ = strings.Cut(spec, ":")
	if mode == "" {
		return id, "rw", nil
	}
	if !validMountMode(mode) {
		return "", "", errdefs.InvalidParameter(errInvalidMode(mode))
	}
	if _, set := propagationOf(mode); set {
		return "", "", errdefs.InvalidParameter(errInvalidMode(mode))
	}
	if _, set := copyModeOf(mode); set {
		return "", "", errdefs.InvalidParameter(errInvalidMode(mode))
	}
	return id, mode, nil
}

// ValidateTmpfsMountDestination checks a `--tmpfs` destination.
func ValidateTmpfsMountDestination(dest string) error {
	if err := validateNotRoot(dest); err != nil {
		return err
	}
	return validateAbsolute(dest)
}

var validTmpfsOptions = map[string]bool{"exec": true, "noexec": true}

// ConvertTmpfsOptions renders `--mount type=tmpfs` options as mount data:
// tmpfs-size with the largest unit that divides it, tmpfs-mode in octal.
func ConvertTmpfsOptions(opt *mount.TmpfsOptions, readOnly bool) (string, error) {
	var out []string
	if readOnly {
		out = append(out, "ro")
	}
	if opt != nil && opt.Mode != 0 {
		out = append(out, fmt.Sprintf("mode=%o", opt.Mode))
	}
	if opt != nil && opt.SizeBytes != 0 {
		size, suffix := opt.SizeBytes, ""
		for _, u := range []struct {
			suffix string
			div    int64
		}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
			if size%u.div == 0 {
				size, suffix = size/u.div, u.suffix
				break
			}
		}
		out = append(out, fmt.Sprintf("size=%d%s", size, suffix))
	}
	if opt != nil {
		for _, o := range opt.Options {
			if len(o) < 1 || len(o) > 2 {
				return "", errors.New("invalid option array length")
			}
			if !validTmpfsOptions[o[0]] {
				return "", errors.New("invalid option: " + o[0])
			}
			if len(o) == 1 {
				out = append(out, o[0])
			} else {
				out = append(out, o[0]+"="+o[1])
			}
		}
	}
	return strings.Join(out, ","), nil
}

func splitMode(mode string) []string {
	if mode == "" {
		return nil
	}
	return strings.Split(mode, ",")
}
