package daemon

import (
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/caps"
	"github.com/berthd/berth/pkg/errdefs"
)

// setPrivileges applies --privileged, --cap-add/--cap-drop and the
// security options (seccomp, no-new-privileges, label, apparmor), and the
// daemon's defaults where the container chose nothing.
func setPrivileges(s *specs.Spec, hc *container.HostConfig, def securityDefaults) error {
	// Containers created before the defaults were recorded have nil
	// here and keep the spec's defaults.
	if hc.MaskedPaths != nil {
		s.Linux.MaskedPaths = hc.MaskedPaths
	}
	if hc.ReadonlyPaths != nil {
		s.Linux.ReadonlyPaths = hc.ReadonlyPaths
	}
	so, err := parseSecurityOpts(hc.SecurityOpt)
	if err != nil {
		return err
	}
	s.Process.NoNewPrivileges = def.noNewPrivileges
	if so.noNewPrivileges != nil {
		s.Process.NoNewPrivileges = *so.noNewPrivileges
	}
	if so.seccomp == "" && !hc.Privileged {
		so.seccomp = def.seccomp
	}
	if so.unconfinedPaths {
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	}
	seccompProfile, writableCgroups := so.seccomp, so.writableCgroups
	// The cgroup mount is writable when asked, by default only for
	// --privileged (handled below).
	if writableCgroups != nil && *writableCgroups {
		for i, m := range s.Mounts {
			if m.Type == "cgroup" {
				s.Mounts[i].Options = slices.DeleteFunc(append([]string{}, m.Options...), func(o string) bool { return o == "ro" })
			}
		}
	}
	capsList, err := effectiveCaps(hc)
	if err != nil {
		return err
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: capsList, Effective: capsList, Permitted: capsList}
	if hc.Privileged {
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		for i, m := range s.Mounts {
			if m.Type == "sysfs" || (m.Type == "cgroup" && (writableCgroups == nil || *writableCgroups)) {
				s.Mounts[i].Options = slices.DeleteFunc(append([]string{}, m.Options...), func(o string) bool { return o == "ro" })
			}
		}
		s.Linux.Devices = append(s.Linux.Devices, hostDevices()...)
	}
	aa, err := appArmorProfile(hc)
	if err != nil {
		return err
	}
	s.Process.ApparmorProfile = aa
	// dockerd's order: a custom profile applies even with --privileged,
	// which otherwise lifts the default one.
	switch {
	case seccompProfile == "unconfined":
		s.Linux.Seccomp = nil
	case seccompProfile != "" && seccompProfile != "builtin":
		sc, err := profiles.LoadProfile(seccompProfile, s)
		if err != nil {
			return errdefs.InvalidParameterf("Decoding seccomp profile failed: %v", err)
		}
		s.Linux.Seccomp = sc
	case hc.Privileged:
		s.Linux.Seccomp = nil
	default:
		sc, err := profiles.GetDefaultProfile(s)
		if err != nil {
			return errdefs.System(err)
		}
		s.Linux.Seccomp = sc
	}
	return nil
}

// securityDefaults are daemon.json's no-new-privileges and seccomp-profile
// (a profile's JSON or "unconfined"; "" for the built-in profile).
type securityDefaults struct {
	noNewPrivileges bool
	seccomp         string
}

// securityDefaults reads them from the daemon's configuration.
func (d *Daemon) securityDefaults() (securityDefaults, error) {
	cfg := d.Config()
	body, err := cfg.SeccompProfileBody()
	if err != nil {
		return securityDefaults{}, errdefs.System(err)
	}
	return securityDefaults{noNewPrivileges: cfg.NoNewPrivileges, seccomp: body}, nil
}

// securityOpts are the --security-opt values berth acts on. AppArmor is
// decided by appArmorProfile; SELinux labels are applied by the runtime
// where the host has them.
type securityOpts struct {
	noNewPrivileges *bool
	writableCgroups *bool
	seccomp         string
	// unconfinedPaths is systempaths=unconfined: no masked or read-only
	// paths.
	unconfinedPaths bool
}

// parseSecurityOpts is dockerd's parse of the security options, with its
// error numbers; create runs it too, so that bad options fail there.
func parseSecurityOpts(opts []string) (securityOpts, error) {
	var so securityOpts
	yes := true
	for _, opt := range opts {
		switch opt {
		case "no-new-privileges":
			so.noNewPrivileges = &yes
			continue
		case "writable-cgroups":
			so.writableCgroups = &yes
			continue
		case "disable":
			continue
		}
		var k, v string
		var ok bool
		if strings.Contains(opt, "=") {
			k, v, ok = strings.Cut(opt, "=")
		} else if strings.Contains(opt, ":") {
			k, v, ok = strings.Cut(opt, ":") // legacy "no-new-privileges:true"
		}
		if !ok {
			return so, errdefs.InvalidParameterf("invalid --security-opt 1: %q", opt)
		}
		switch k {
		case "no-new-privileges", "writable-cgroups":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return so, errdefs.InvalidParameterf("invalid --security-opt 2: %q", opt)
			}
			if k == "no-new-privileges" {
				so.noNewPrivileges = &b
			} else {
				so.writableCgroups = &b
			}
		case "seccomp":
			so.seccomp = v
		case "apparmor", "label":
		case "systempaths":
			so.unconfinedPaths = v == "unconfined"
		default:
			return so, errdefs.InvalidParameterf("invalid --security-opt 2: %q", opt)
		}
	}
	return so, nil
}

// effectiveCaps is dockerd's capability arithmetic: all for --privileged,
// else the defaults plus --cap-add minus --cap-drop, with ALL on either side.
func effectiveCaps(hc *container.HostConfig) ([]string, error) {
	if hc.Privileged {
		return allowedCaps(), nil
	}
	norm := func(list []string) ([]string, error) {
		var out []string
		for _, c := range list {
			u := strings.ToUpper(c)
			if u == "ALL" {
				out = append(out, "ALL")
				continue
			}
			if !strings.HasPrefix(u, "CAP_") {
				u = "CAP_" + u
			}
			if _, err := caps.Parse(u); err != nil {
				return nil, errdefs.InvalidParameterf("unknown capability: %q", c)
			}
			out = append(out, u)
		}
		return out, nil
	}
	add, err := norm(hc.CapAdd)
	if err != nil {
		return nil, err
	}
	drop, err := norm(hc.CapDrop)
	if err != nil {
		return nil, err
	}
	var set []string
	if slices.Contains(add, "ALL") {
		set = allowedCaps()
	} else {
		set = append(set, caps.DefaultDocker...)
		for _, c := range add {
			if !slices.Contains(set, c) {
				set = append(set, c)
			}
		}
	}
	if slices.Contains(drop, "ALL") {
		keep := []string{}
		for _, c := range add {
			if c != "ALL" {
				keep = append(keep, c)
			}
		}
		if slices.Contains(add, "ALL") {
			keep = allowedCaps()
		}
		set = keep
	} else {
		set = slices.DeleteFunc(set, func(c string) bool { return slices.Contains(drop, c) })
	}
	return set, nil
}

// allowedCaps is "all capabilities" for --privileged and --cap-add ALL:
// every capability the kernel knows that the daemon itself holds in its
// bounding set. A host (or an outer container) that withheld one, say
// CAP_SYS_RESOURCE, would otherwise make every privileged start fail at
// capset.
func allowedCaps() []string {
	all := caps.Names()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return all
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			bnd, err := caps.ParseHex(v)
			if err != nil {
				return all
			}
			out := all[:0:0]
			for i, name := range all {
				if bnd.Has(i) {
					out = append(out, name)
				}
			}
			return out
		}
	}
	return all
}
