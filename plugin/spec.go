package plugin

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/caps"
	"github.com/berthd/berth/pkg/runtime"
)

// socketDir is where a plugin makes its socket, inside its root.
const socketDir = "/run/docker/plugins"

// spec is the OCI spec a plugin runs with: a container's defaults, then
// what its config and settings ask, as dockerd builds it.
func (m *Manager) spec(r *record) (*specs.Spec, error) {
	s := runtime.DefaultSpec()
	s.Root = &specs.Root{Path: filepath.Join(m.dir(r.ID), rootfsDir)}
	s.Hostname = ""
	cfg := r.Config
	userMounts := map[string]bool{}
	for _, mnt := range r.Settings.Mounts {
		userMounts[mnt.Destination] = true
	}
	if cfg.PropagatedMount != "" {
		s.Mounts = append(s.Mounts, specs.Mount{
			Source: filepath.Join(m.dir(r.ID), propagatedDir), Destination: cfg.PropagatedMount,
			Type: "bind", Options: []string{"rbind", "rw", "rshared"},
		})
		s.Linux.RootfsPropagation = "rshared"
	}
	s.Mounts = append(s.Mounts, specs.Mount{
		Source: m.socketDir(r.ID), Destination: socketDir, Type: "bind", Options: []string{"rbind", "rshared"},
	})
	if t := cfg.Network.Type; t != "" {
		if t == "host" {
			removeNamespace(s, specs.NetworkNamespace)
		}
		for _, f := range []string{"/etc/hosts", "/etc/resolv.conf"} {
			s.Mounts = append(s.Mounts, specs.Mount{Source: f, Destination: f, Type: "bind", Options: []string{"rbind", "ro"}})
		}
	}
	if cfg.PidHost {
		removeNamespace(s, specs.PIDNamespace)
	}
	if cfg.IpcHost {
		removeNamespace(s, specs.IPCNamespace)
	}
	// The settings' mounts are the config's with the user's sources.
	for _, mnt := range r.Settings.Mounts {
		if mnt.Source == nil {
			return nil, errors.New("mount source is not specified")
		}
		typ := mnt.Type
		if typ == "" {
			typ = "bind"
		}
		s.Mounts = append(s.Mounts, specs.Mount{Source: *mnt.Source, Destination: mnt.Destination, Type: typ, Options: mnt.Options})
	}
	// A mount the user asked for under /dev replaces the default one.
	s.Mounts = slices.DeleteFunc(s.Mounts, func(mnt specs.Mount) bool {
		return strings.HasPrefix(mnt.Destination, "/dev/") && userMounts[mnt.Destination] && mnt.Type != "bind"
	})
	if cfg.Linux.AllowAllDevices {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	for _, dev := range r.Settings.Devices {
		if dev.Path == nil {
			continue
		}
		d, rule, err := runtime.DeviceFromPath(*dev.Path, *dev.Path, "rwm")
		if err != nil {
			return nil, err
		}
		s.Linux.Devices = append(s.Linux.Devices, d)
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rule)
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	env = append(env, r.Settings.Env...)
	args := append(append([]string{}, cfg.Entrypoint...), r.Settings.Args...)
	if len(args) == 0 {
		return nil, errors.New("plugin config has no entrypoint")
	}
	cwd := cfg.WorkDir
	if cwd == "" {
		cwd = "/"
	}
	s.Process.Args = args
	s.Process.Env = env
	s.Process.Cwd = cwd
	s.Process.User = specs.User{UID: cfg.User.UID, GID: cfg.User.GID}
	if len(cfg.Linux.Capabilities) > 0 {
		all := append(append([]string{}, caps.DefaultDocker...), cfg.Linux.Capabilities...)
		slices.Sort(all)
		all = slices.Compact(all)
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	}
	s.Linux.CgroupsPath = filepath.Join("/berth-plugins", r.ID)
	return s, nil
}

func removeNamespace(s *specs.Spec, t specs.LinuxNamespaceType) {
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == t })
}
