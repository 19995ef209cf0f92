package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/caps"
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
	setShmAndTmpfs(s, hc)
	if err := setDevices(s, hc); err != nil {
		return nil, err
	}
	if err := setPrivileges(s, hc); err != nil {
		return nil, err
	}
	// Inspect shows the profile in force, or on a host without AppArmor
	// the one asked for, as dockerd does.
	c.AppArmorProfile = s.Process.ApparmorProfile
	if c.AppArmorProfile == "" {
		c.AppArmorProfile = requestedAppArmor(hc.SecurityOpt)
	}
	if hc.Init != nil && *hc.Init {
		reaper, err := findInit()
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

// findInit locates the static tini that Debian's tini package installs.
func findInit() (string, error) {
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

func (d *Daemon) setRlimits(s *specs.Spec, hc *container.HostConfig) error {
	limits := map[string]specs.POSIXRlimit{}
	soft, hard := defaultNofile()
	limits["RLIMIT_NOFILE"] = specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: soft, Hard: hard}
	add := func(name string, soft, hard int64) error {
		t := "RLIMIT_" + strings.ToUpper(name)
		if _, ok := rlimitNames[t]; !ok {
			return errdefs.InvalidParameterf("invalid ulimit type: %s", name)
		}
		limits[t] = specs.POSIXRlimit{Type: t, Soft: uint64(soft), Hard: uint64(hard)}
		return nil
	}
	for _, u := range d.Config().DefaultUlimits {
		if err := add(u.Name, u.Soft, u.Hard); err != nil {
			return err
		}
	}
	for _, u := range hc.Ulimits {
		if err := add(u.Name, u.Soft, u.Hard); err != nil {
			return err
		}
	}
	s.Process.Rlimits = nil
	for _, name := range sortedKeys(limits) {
		s.Process.Rlimits = append(s.Process.Rlimits, limits[name])
	}
	return nil
}

var rlimitNames = map[string]bool{
	"RLIMIT_AS": true, "RLIMIT_CORE": true, "RLIMIT_CPU": true, "RLIMIT_DATA": true,
	"RLIMIT_FSIZE": true, "RLIMIT_LOCKS": true, "RLIMIT_MEMLOCK": true, "RLIMIT_MSGQUEUE": true,
	"RLIMIT_NICE": true, "RLIMIT_NOFILE": true, "RLIMIT_NPROC": true, "RLIMIT_RSS": true,
	"RLIMIT_RTPRIO": true, "RLIMIT_RTTIME": true, "RLIMIT_SIGPENDING": true, "RLIMIT_STACK": true,
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

func setResources(s *specs.Spec, hc *container.HostConfig) error {
	r := hc.Resources
	res := s.Linux.Resources
	if r.Memory != 0 || r.MemoryReservation != 0 || r.MemorySwap != 0 || r.MemorySwappiness != nil || (r.OomKillDisable != nil && *r.OomKillDisable) {
		m := &specs.LinuxMemory{}
		if r.Memory != 0 {
			m.Limit = &r.Memory
		}
		if r.MemoryReservation != 0 {
			m.Reservation = &r.MemoryReservation
		}
		if r.MemorySwap != 0 {
			m.Swap = &r.MemorySwap
		}
		if r.MemorySwappiness != nil && *r.MemorySwappiness >= 0 {
			v := uint64(*r.MemorySwappiness)
			m.Swappiness = &v
		}
		m.DisableOOMKiller = r.OomKillDisable
		res.Memory = m
	}
	cpu := &specs.LinuxCPU{}
	used := false
	if r.CPUShares != 0 {
		v := uint64(r.CPUShares)
		cpu.Shares = &v
		used = true
	}
	if r.NanoCPUs != 0 {
		period := uint64(100000)
		quota := r.NanoCPUs * int64(period) / 1e9
		cpu.Period, cpu.Quota = &period, &quota
		used = true
	}
	if r.CPUPeriod != 0 {
		v := uint64(r.CPUPeriod)
		cpu.Period = &v
		used = true
	}
	if r.CPUQuota != 0 {
		v := r.CPUQuota
		cpu.Quota = &v
		used = true
	}
	if r.CpusetCpus != "" || r.CpusetMems != "" {
		cpu.Cpus, cpu.Mems = r.CpusetCpus, r.CpusetMems
		used = true
	}
	if r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0 {
		p := uint64(r.CPURealtimePeriod)
		rt := r.CPURealtimeRuntime
		cpu.RealtimePeriod, cpu.RealtimeRuntime = &p, &rt
		used = true
	}
	if used {
		res.CPU = cpu
	}
	if r.PidsLimit != nil && *r.PidsLimit != 0 {
		res.Pids = &specs.LinuxPids{Limit: r.PidsLimit}
	}
	blk := &specs.LinuxBlockIO{}
	blkUsed := false
	if r.BlkioWeight != 0 {
		w := r.BlkioWeight
		blk.Weight = &w
		blkUsed = true
	}
	for _, wd := range r.BlkioWeightDevice {
		major, minor, err := deviceNumbers(wd.Path)
		if err != nil {
			return err
		}
		w := wd.Weight
		blk.WeightDevice = append(blk.WeightDevice, specs.LinuxWeightDevice{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Weight: &w})
		blkUsed = true
	}
	throttle := func(list []*blkiodev.ThrottleDevice) ([]specs.LinuxThrottleDevice, error) {
		var out []specs.LinuxThrottleDevice
		for _, t := range list {
			major, minor, err := deviceNumbers(t.Path)
			if err != nil {
				return nil, err
			}
			out = append(out, specs.LinuxThrottleDevice{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: t.Rate})
		}
		return out, nil
	}
	var err error
	if blk.ThrottleReadBpsDevice, err = throttle(r.BlkioDeviceReadBps); err != nil {
		return err
	}
	if blk.ThrottleWriteBpsDevice, err = throttle(r.BlkioDeviceWriteBps); err != nil {
		return err
	}
	if blk.ThrottleReadIOPSDevice, err = throttle(r.BlkioDeviceReadIOps); err != nil {
		return err
	}
	if blk.ThrottleWriteIOPSDevice, err = throttle(r.BlkioDeviceWriteIOps); err != nil {
		return err
	}
	if blkUsed || len(blk.ThrottleReadBpsDevice)+len(blk.ThrottleWriteBpsDevice)+len(blk.ThrottleReadIOPSDevice)+len(blk.ThrottleWriteIOPSDevice) > 0 {
		res.BlockIO = blk
	}
	return nil
}

func deviceNumbers(path string) (int64, int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, errdefs.InvalidParameterf("error gathering device information while adding custom device %q: %v", path, err)
	}
	return int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev)), nil
}

func setShmAndTmpfs(s *specs.Spec, hc *container.HostConfig) {
	for i, m := range s.Mounts {
		if m.Destination == "/dev/shm" {
			if hc.IpcMode.IsHost() {
				s.Mounts[i] = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "nosuid", "noexec", "nodev"}}
				continue
			}
			s.Mounts[i].Options = []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(hc.ShmSize, 10)}
		}
	}
	// --tmpfs mounts come with the other mounts from the volume layer,
	// which validates them against -v and --mount.
}

func setDevices(s *specs.Spec, hc *container.HostConfig) error {
	for _, dm := range hc.Devices {
		perms := dm.CgroupPermissions
		if perms == "" {
			perms = "rwm"
		}
		dst := dm.PathInContainer
		if dst == "" {
			dst = dm.PathOnHost
		}
		dev, rule, err := runtime.DeviceFromPath(dm.PathOnHost, dst, perms)
		if err != nil {
			return err
		}
		s.Linux.Devices = append(s.Linux.Devices, dev)
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rule)
	}
	for _, rule := range hc.DeviceCgroupRules {
		r, err := parseDeviceRule(rule)
		if err != nil {
			return err
		}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, r)
	}
	return nil
}

// parseDeviceRule reads "c 1:3 rwm" (with * wildcards).
func parseDeviceRule(rule string) (specs.LinuxDeviceCgroup, error) {
	bad := errdefs.InvalidParameterf("invalid device cgroup rule format: '%s'", rule)
	f := strings.Fields(rule)
	if len(f) != 3 || (f[0] != "a" && f[0] != "b" && f[0] != "c") {
		return specs.LinuxDeviceCgroup{}, bad
	}
	majS, minS, ok := strings.Cut(f[1], ":")
	if !ok || strings.Trim(f[2], "rwm") != "" {
		return specs.LinuxDeviceCgroup{}, bad
	}
	num := func(s string) (*int64, bool) {
		if s == "*" {
			v := int64(-1)
			return &v, true
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return &v, err == nil
	}
	maj, ok1 := num(majS)
	min, ok2 := num(minS)
	if !ok1 || !ok2 {
		return specs.LinuxDeviceCgroup{}, bad
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: f[0], Major: maj, Minor: min, Access: f[2]}, nil
}

// setPrivileges applies --privileged, --cap-add/--cap-drop and the
// security options (seccomp, no-new-privileges, label, apparmor).
func setPrivileges(s *specs.Spec, hc *container.HostConfig) error {
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
	if so.noNewPrivileges != nil {
		s.Process.NoNewPrivileges = *so.noNewPrivileges
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

// hostDevices lists the host's device nodes for --privileged.
func hostDevices() []specs.LinuxDevice {
	var out []specs.LinuxDevice
	filepath.WalkDir("/dev", func(p string, de os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if de.IsDir() {
			switch p {
			case "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/.lxc", "/dev/.udev":
				return filepath.SkipDir
			}
			return nil
		}
		if p == "/dev/console" || p == "/dev/ptmx" {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil
		}
		typ := ""
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			typ = "c"
		case unix.S_IFBLK:
			typ = "b"
		default:
			return nil
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		out = append(out, specs.LinuxDevice{Path: p, Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)), FileMode: &mode, UID: &uid, GID: &gid})
		return nil
	})
	return out
}
