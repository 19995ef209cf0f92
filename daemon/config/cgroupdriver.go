package config

import (
	"errors"
	"fmt"
	"strings"
)

// The cgroup drivers, by their exec-opts names.
const (
	CgroupDriverCgroupfs = "cgroupfs"
	CgroupDriverSystemd  = "systemd"
)

// errSystemdParent is dockerd's text for a cgroup parent the systemd
// driver cannot use.
var errSystemdParent = errors.New(`cgroup-parent for systemd cgroup should be a valid slice named as "xxx.slice"`)

// execOptions parses exec-opts as dockerd does: "opt=value" pairs, keys
// case-insensitive, the last of a key winning.
func execOptions(opts []string) (map[string]string, error) {
	m := map[string]string{}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("invalid exec-opt (%s): must be formatted 'opt=value'", o)
		}
		switch k {
		case "native.cgroupdriver":
		case "isolation":
			return nil, fmt.Errorf("invalid exec-opt (%s): option '%s' is only supported on windows", o, k)
		default:
			return nil, fmt.Errorf("invalid exec-opt (%s): unknown option: '%s'", o, k)
		}
		m[k] = v
	}
	return m, nil
}

// CgroupDriver is the driver exec-opts select: cgroupfs unless
// native.cgroupdriver=systemd (berth keeps cgroupfs the default on
// cgroup v2 hosts too, where dockerd picks systemd when it runs).
func (c *Config) CgroupDriver() string {
	o, _ := execOptions(c.ExecOptions)
	if o["native.cgroupdriver"] == CgroupDriverSystemd {
		return CgroupDriverSystemd
	}
	return CgroupDriverCgroupfs
}

// validateCgroupDriver checks exec-opts and, under systemd, the daemon's
// cgroup-parent, with dockerd's messages.
func (c *Config) validateCgroupDriver() error {
	o, err := execOptions(c.ExecOptions)
	if err != nil {
		return err
	}
	switch cd := o["native.cgroupdriver"]; cd {
	case "", CgroupDriverCgroupfs, CgroupDriverSystemd:
	case "none":
		return fmt.Errorf("native.cgroupdriver option %s is internally used and cannot be specified manually", cd)
	default:
		return fmt.Errorf("native.cgroupdriver option %s not supported", cd)
	}
	if c.CgroupParent != "" && c.CgroupDriver() == CgroupDriverSystemd {
		return CheckSystemdParent(c.CgroupParent)
	}
	return nil
}

// CheckSystemdParent refuses a cgroup parent that is not a slice name,
// as dockerd does under the systemd driver (for --cgroup-parent and the
// daemon's cgroup-parent alike).
func CheckSystemdParent(parent string) error {
	if len(parent) <= 6 || !strings.HasSuffix(parent, ".slice") {
		return errSystemdParent
	}
	return nil
}
