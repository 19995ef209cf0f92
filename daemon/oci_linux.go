package daemon

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/userdb"
)

// defaultNofile is the open-files limit containers get when neither the
// container nor the daemon sets one: the daemon's own, which is what a
// container under dockerd and containerd inherits (1048576 under the
// systemd unit's LimitNOFILE=infinity).
func defaultNofile() (soft, hard uint64) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 1024, 4096
	}
	return rl.Max, rl.Max
}

// initPath is where --init's reaper is mounted inside the container.
const initPath = "/sbin/docker-init"

// specInput is what buildSpec needs besides the container: the rootfs and
// the namespace paths and mounts other managers prepared.
type specInput struct {
	Rootfs string
	// NamespacePaths joins existing namespaces (container:X modes, a netns
	// prepared by the network manager), by namespace type.
	NamespacePaths map[specs.LinuxNamespaceType]string
	// Mounts are added after the defaults (volumes, binds, resolv.conf…).
	Mounts []specs.Mount
	// CgroupsPath is the container's cgroup.
	CgroupsPath string
}

// buildSpec turns a container's config and host config into an OCI spec
// the way dockerd does: its defaults, then privileges, namespaces,
// resources, mounts and the process. The caller holds c's lock.
func (d *Daemon) buildSpec(c *ctr.Container, in specInput) (*specs.Spec, error) {
	cfg, hc := c.Config, c.HostConfig
	s := runtime.DefaultSpec()
	s.Root = &specs.Root{Path: in.Rootfs, Readonly: hc.ReadonlyRootfs}
	s.Hostname = cfg.Hostname
	s.Domainname = cfg.Domainname
	s.Linux.CgroupsPath = in.CgroupsPath
	s.Linux.Sysctl = map[string]string{}

	if err := setProcess(s, c, in.Rootfs); err != nil {
		return nil, err
	}
	if le := d.linkEnv(c); len(le) > 0 {
		s.Process.Env = append(le, s.Process.Env...)
	}
	if err := setNamespaces(s, hc, in.NamespacePaths); err != nil {
		return nil, err
	}
	if err := d.setRlimits(s, hc); err != nil {
		return nil, err
	}
	if err := setSysctls(s, hc); err != nil {
		return nil, err
	}
	if err := setResources(s, hc); err != nil {
		return nil, err
	}
	setExtraResources(s, c.ExtraResources)
	setShmAndTmpfs(s, hc)
	if err := setDevices(s, hc); err != nil {
		return nil, err
	}
	secDefaults, err := d.securityDefaults()
	if err != nil {
		return nil, err
	}
	if err := setPrivileges(s, hc, secDefaults); err != nil {
		return nil, err
	}
	// Inspect shows the profile in force, or on a host without AppArmor
	// the one asked for, as dockerd does.
	c.AppArmorProfile = s.Process.ApparmorProfile
	if c.AppArmorProfile == "" {
		c.AppArmorProfile = requestedAppArmor(hc.SecurityOpt)
	}
	// A container that says nothing about --init gets the daemon's
	// default, as in dockerd.
	if (hc.Init != nil && *hc.Init) || (hc.Init == nil && d.Config().Init) {
		reaper, err := findInit(d.Config())
		if err != nil {
			return nil, err
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: initPath, Type: "bind", Source: reaper, Options: []string{"bind", "ro"}})
		s.Process.Args = append([]string{initPath, "--"}, s.Process.Args...)
	}
	// A user mount replaces a default one at the same place (/dev/shm…).
	for _, m := range in.Mounts {
		s.Mounts = slices.DeleteFunc(s.Mounts, func(d specs.Mount) bool { return d.Destination == m.Destination })
	}
	s.Mounts = append(s.Mounts, in.Mounts...)
	setRootfsPropagation(s)
	if hc.OomScoreAdj != 0 {
		v := hc.OomScoreAdj
		s.Process.OOMScoreAdj = &v
	}
	return s, nil
}

// setRootfsPropagation makes the container's root mount shared (or slave)
// when a bind mount asks for rshared (rslave) propagation, as dockerd
// does: under a private root a shared bind cannot propagate anything.
func setRootfsPropagation(s *specs.Spec) {
	for _, m := range s.Mounts {
		for _, o := range m.Options {
			switch o {
			case "shared", "rshared":
				s.Linux.RootfsPropagation = "rshared"
				return
			case "slave", "rslave":
				s.Linux.RootfsPropagation = "rslave"
			}
		}
	}
}

// findInit locates the init daemon.json names (init-path, default-init),
// else the static tini that Debian's tini package installs.
func findInit(cfg *config.Config) (string, error) {
	if p, err := cfg.InitBinary(); err != nil {
		return "", errdefs.System(err)
	} else if p != "" {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init", "/usr/bin/tini"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errdefs.System(fmt.Errorf("docker-init binary not found: install Debian's tini package"))
}

func setProcess(s *specs.Spec, c *ctr.Container, rootfs string) error {
	cfg := c.Config
	p := s.Process
	p.Args = append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	p.Terminal = cfg.Tty
	if cs := c.HostConfig.ConsoleSize; cfg.Tty && (cs[0] > 0 || cs[1] > 0) {
		p.ConsoleSize = &specs.Box{Height: uint(cs[0]), Width: uint(cs[1])}
	}
	p.Cwd = cfg.WorkingDir
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	env := []string{}
	hasPath := false
	for _, e := range cfg.Env {
		if strings.HasPrefix(e, "PATH=") {
			hasPath = true
		}
	}
	if !hasPath {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	env = append(env, "HOSTNAME="+cfg.Hostname)
	if cfg.Tty {
		env = append(env, "TERM=xterm")
	}
	p.Env = append(env, cfg.Env...)
	// The container has no process yet, so nothing in it can change the
	// files while they are read; the reader is bounded and never blocks.
	return lookupUser(rootfs, cfg.User, c.HostConfig.GroupAdd).apply(p)
}

// userLookup is what resolving a process's user needs, copied out of the
// container so that the files are read without its lock: they are the
// container's to shape, and a reader that waited on them under the lock
// would stall every client that lists containers.
type userLookup struct {
	rootfs   string
	spec     string
	groupAdd []string
}

func lookupUser(rootfs, spec string, groupAdd []string) userLookup {
	return userLookup{rootfs: rootfs, spec: spec, groupAdd: slices.Clone(groupAdd)}
}

// apply sets p's user, supplementary groups and HOME from the container's
// /etc/passwd and /etc/group, with runc's rules and dockerd's messages.
func (u userLookup) apply(p *specs.Process) error {
	db, err := userdb.ReadPath(u.rootfs)
	if err != nil {
		return errdefs.System(err)
	}
	eu, err := db.ExecUser(u.spec)
	if err != nil {
		return errdefs.InvalidParameter(err)
	}
	p.User = specs.User{UID: uint32(eu.Uid), GID: uint32(eu.Gid)}
	add := eu.Sgids
	if len(u.groupAdd) > 0 {
		extra, err := db.AdditionalGroups(u.groupAdd)
		if err != nil {
			return errdefs.InvalidParameter(err)
		}
		add = append(add, extra...)
	}
	for _, g := range add {
		if !slices.Contains(p.User.AdditionalGids, uint32(g)) {
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
		}
	}
	home := eu.Home
	if home == "" {
		home = "/"
	}
	if !slices.ContainsFunc(p.Env, func(e string) bool { return strings.HasPrefix(e, "HOME=") }) {
		p.Env = append(p.Env, "HOME="+home)
	}
	return nil
}

func removeNamespace(s *specs.Spec, t specs.LinuxNamespaceType) {
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == t })
}

func setNamespacePath(s *specs.Spec, t specs.LinuxNamespaceType, path string) {
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == t {
			s.Linux.Namespaces[i].Path = path
			return
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: t, Path: path})
}

func setNamespaces(s *specs.Spec, hc *container.HostConfig, paths map[specs.LinuxNamespaceType]string) error {
	if hc.NetworkMode.IsHost() {
		removeNamespace(s, specs.NetworkNamespace)
	}
	if hc.IpcMode.IsHost() {
		removeNamespace(s, specs.IPCNamespace)
	}
	if hc.PidMode.IsHost() {
		removeNamespace(s, specs.PIDNamespace)
	}
	if hc.UTSMode.IsHost() {
		removeNamespace(s, specs.UTSNamespace)
		s.Hostname = ""
	}
	if hc.CgroupnsMode.IsHost() {
		removeNamespace(s, specs.CgroupNamespace)
	}
	if hc.UsernsMode != "" && !hc.UsernsMode.IsHost() {
		return errdefs.InvalidParameterf("invalid USER mode: %s", hc.UsernsMode)
	}
	for t, p := range paths {
		setNamespacePath(s, t, p)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// setSysctls allows only namespaced sysctls, as dockerd does, and only
// in a namespace of the container's own: the namespaces are decided by
// then, and a joined one (--network container:X, where X may itself use
// the host's network or join another's) is compared with the daemon's, as
// runc does, so that a sysctl never lands on the host.
func setSysctls(s *specs.Spec, hc *container.HostConfig) error {
	// dockerd's defaults for a network namespace of the container's own:
	// unprivileged ICMP echo sockets and low ports without the
	// capabilities the container is granted anyway. --sysctl overrides.
	if hc.NetworkMode.IsPrivate() {
		for k, v := range map[string]string{"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"} {
			if _, err := os.Stat("/proc/sys/" + strings.ReplaceAll(k, ".", "/")); err == nil {
				s.Linux.Sysctl[k] = v
			}
		}
	}
	for _, k := range sortedKeys(hc.Sysctls) {
		namespaced := strings.HasPrefix(k, "net.") || strings.HasPrefix(k, "fs.mqueue.") ||
			slices.Contains([]string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}, k)
		if !namespaced {
			return errdefs.InvalidParameterf("sysctl '%s' is not allowed", k)
		}
		if strings.HasPrefix(k, "net.") {
			host, err := inHostNamespace(s, specs.NetworkNamespace, "net")
			if err != nil {
				return errdefs.System(fmt.Errorf("invalid netns path: %w", err))
			}
			if host || hc.NetworkMode.IsHost() {
				return errdefs.InvalidParameterf("sysctl %q not allowed in host network namespace", k)
			}
		} else {
			host, err := inHostNamespace(s, specs.IPCNamespace, "ipc")
			if err != nil {
				return errdefs.System(fmt.Errorf("invalid ipc namespace path: %w", err))
			}
			if host || hc.IpcMode.IsHost() {
				return errdefs.InvalidParameterf("sysctl %q is not allowed in the hosts ipc namespace", k)
			}
		}
		if _, _, perIf := interfaceSysctl(k); perIf {
			// Written after the network is up (interface_sysctls.go).
			continue
		}
		s.Linux.Sysctl[k] = hc.Sysctls[k]
	}
	return nil
}

// inHostNamespace reports whether the process of s runs in the daemon's
// own namespace of type t: no new one, or a path that names the daemon's.
func inHostNamespace(s *specs.Spec, t specs.LinuxNamespaceType, file string) (bool, error) {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != t {
			continue
		}
		if ns.Path == "" {
			return false, nil
		}
		joined, err := os.Stat(ns.Path)
		if err != nil {
			return false, err
		}
		// This thread's, not /proc/self's: the main thread may be one that
		// a locked goroutine moved into a container's namespace for a
		// while, and an unlocked goroutine never runs on such a thread.
		own, err := os.Stat("/proc/thread-self/ns/" + file)
		if err != nil {
			return false, err
		}
		return os.SameFile(joined, own), nil
	}
	return true, nil
}
