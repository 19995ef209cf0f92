package cri

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/apparmor"
	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/errdefs"
)

// The engine's log driver that writes the CRI log file, and its option
// naming the file: public names, as a Docker API client gives them.
const (
	criLogDriver  = "cri"
	criLogPathOpt = "cri-log-path"
)

// createConfig translates a CreateContainer request into the engine's
// create, the way cri-dockerd and containerd read each field: the pod's
// namespaces through container:<sandbox> modes, its cgroup parent, the
// CRI log file as the "cri" log driver.
func createConfig(sandboxID string, cfg *runtimeapi.ContainerConfig, pod *runtimeapi.PodSandboxConfig) (backend.ContainerCreateConfig, error) {
	var none backend.ContainerCreateConfig
	logPath := ""
	if pod.GetLogDirectory() != "" && cfg.GetLogPath() != "" {
		logPath = filepath.Join(pod.GetLogDirectory(), cfg.GetLogPath())
	}
	c := &container.Config{
		Image:      cfg.GetImage().GetImage(),
		Entrypoint: cfg.GetCommand(),
		Cmd:        cfg.GetArgs(),
		WorkingDir: cfg.GetWorkingDir(),
		Tty:        cfg.GetTty(),
		OpenStdin:  cfg.GetStdin(),
		StdinOnce:  cfg.GetStdinOnce(),
		Labels:     containerLabels(cfg, sandboxID, logPath),
	}
	for _, kv := range cfg.GetEnvs() {
		c.Env = append(c.Env, kv.GetKey()+"="+string(kv.GetValue()))
	}
	if s := cfg.GetStopSignal(); s != runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		c.StopSignal = strings.TrimPrefix(s.String(), "SIGNAL_")
	}
	ref := "container:" + sandboxID
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(ref),
		IpcMode:     container.IpcMode(ref),
	}
	hc.CgroupParent = pod.GetLinux().GetCgroupParent()
	if logPath != "" {
		hc.LogConfig = container.LogConfig{Type: criLogDriver, Config: map[string]string{criLogPathOpt: logPath}}
	}
	for _, m := range cfg.GetMounts() {
		b, err := bindOf(m)
		if err != nil {
			return none, err
		}
		hc.Mounts = append(hc.Mounts, b)
	}
	for _, dev := range cfg.GetDevices() {
		hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: dev.GetHostPath(), PathInContainer: dev.GetContainerPath(), CgroupPermissions: dev.GetPermissions()})
	}
	applyResources(&hc.Resources, cfg.GetLinux().GetResources())
	extra := extraResources(cfg.GetLinux().GetResources())
	hc.OomScoreAdj = int(cfg.GetLinux().GetResources().GetOomScoreAdj())
	if err := applySecurity(c, hc, sandboxID, cfg.GetLinux().GetSecurityContext()); err != nil {
		return none, err
	}
	return backend.ContainerCreateConfig{
		Name:           containerName(cfg.GetMetadata(), pod.GetMetadata()),
		Config:         c,
		HostConfig:     hc,
		ExtraResources: extra,
	}, nil
}

// bindOf is a CRI mount as an engine bind mount. A missing host path is
// made a directory, as kubelet expects; a read-only mount is read-only
// on its top mount only unless recursive_read_only asks for all, as
// containerd does. SELinux relabeling is not asked for (berth has no
// SELinux support).
func bindOf(m *runtimeapi.Mount) (mount.Mount, error) {
	var none mount.Mount
	// Unimplemented, as kubelet and critest read "not supported here".
	if m.GetImage().GetImage() != "" || len(m.GetUidMappings()) > 0 || len(m.GetGidMappings()) > 0 {
		return none, errdefs.NotImplemented(fmt.Errorf("mount %q: image volumes and idmapped mounts are not supported", m.GetContainerPath()))
	}
	if m.GetHostPath() == "" || !filepath.IsAbs(m.GetContainerPath()) {
		return none, errdefs.InvalidParameterf("mount %q -> %q: host path and absolute container path required", m.GetHostPath(), m.GetContainerPath())
	}
	o := &mount.BindOptions{CreateMountpoint: true, Propagation: mount.PropagationRPrivate}
	switch m.GetPropagation() {
	case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		o.Propagation = mount.PropagationRSlave
	case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		o.Propagation = mount.PropagationRShared
	}
	if m.GetRecursiveReadOnly() {
		switch {
		case !m.GetReadonly():
			return none, errdefs.InvalidParameterf("mount %q: recursive read-only needs read-only", m.GetContainerPath())
		case o.Propagation != mount.PropagationRPrivate:
			return none, errdefs.InvalidParameterf("mount %q: recursive read-only needs private propagation, not %s", m.GetContainerPath(), o.Propagation)
		}
		o.ReadOnlyForceRecursive = true
	} else if m.GetReadonly() {
		o.ReadOnlyNonRecursive = true
	}
	return mount.Mount{Type: mount.TypeBind, Source: m.GetHostPath(), Target: m.GetContainerPath(), ReadOnly: m.GetReadonly(), BindOptions: o}, nil
}

// applyResources copies the CRI resources that HostConfig has fields
// for; extraResources the others.
func applyResources(r *container.Resources, res *runtimeapi.LinuxContainerResources) {
	if res == nil {
		return
	}
	r.CPUPeriod = res.GetCpuPeriod()
	r.CPUQuota = res.GetCpuQuota()
	r.CPUShares = res.GetCpuShares()
	r.Memory = res.GetMemoryLimitInBytes()
	r.MemorySwap = res.GetMemorySwapLimitInBytes()
	r.CpusetCpus = res.GetCpusetCpus()
	r.CpusetMems = res.GetCpusetMems()
}

// extraResources are the hugepage limits and unified (cgroup v2) keys,
// which HostConfig has no field for; nil when there are none.
func extraResources(res *runtimeapi.LinuxContainerResources) *cgroups.ExtraResources {
	e := &cgroups.ExtraResources{Unified: maps.Clone(res.GetUnified())}
	for _, h := range res.GetHugepageLimits() {
		e.HugepageLimits = append(e.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: h.GetPageSize(), Limit: h.GetLimit()})
	}
	if e.IsZero() {
		return nil
	}
	return e
}

// applySecurity maps the security context: user, groups, capabilities,
// privileges, the PID namespace, seccomp, AppArmor, masked paths.
func applySecurity(c *container.Config, hc *container.HostConfig, sandboxID string, sc *runtimeapi.LinuxContainerSecurityContext) error {
	if sc == nil {
		sc = &runtimeapi.LinuxContainerSecurityContext{}
	}
	if sc.GetRunAsGroup() != nil && sc.GetRunAsUser() == nil && sc.GetRunAsUsername() == "" {
		return errdefs.InvalidParameterf("run_as_group needs run_as_user or run_as_username")
	}
	if sc.GetSupplementalGroupsPolicy() == runtimeapi.SupplementalGroupsPolicy_Strict {
		// The engine always adds the user's groups from the image's
		// /etc/group; better refuse than run with groups not asked for.
		return errdefs.InvalidParameterf("supplemental groups policy Strict is not supported")
	}
	c.User = userSpecOf(sc)
	for _, g := range sc.GetSupplementalGroups() {
		hc.GroupAdd = append(hc.GroupAdd, strconv.FormatInt(g, 10))
	}
	hc.CapAdd = sc.GetCapabilities().GetAddCapabilities()
	hc.CapDrop = sc.GetCapabilities().GetDropCapabilities()
	hc.Privileged = sc.GetPrivileged()
	hc.ReadonlyRootfs = sc.GetReadonlyRootfs()
	if sc.GetNoNewPrivs() {
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges")
	}
	// An empty list is kubelet saying nothing; the runtime's defaults stay.
	if len(sc.GetMaskedPaths()) > 0 {
		hc.MaskedPaths = sc.GetMaskedPaths()
	}
	if len(sc.GetReadonlyPaths()) > 0 {
		hc.ReadonlyPaths = sc.GetReadonlyPaths()
	}
	ns := sc.GetNamespaceOptions()
	switch ns.GetPid() {
	case runtimeapi.NamespaceMode_POD:
		hc.PidMode = container.PidMode("container:" + sandboxID)
	case runtimeapi.NamespaceMode_NODE:
		hc.PidMode = "host"
	case runtimeapi.NamespaceMode_TARGET:
		if ns.GetTargetId() == "" {
			return errdefs.InvalidParameterf("PID namespace mode TARGET needs a target_id")
		}
		hc.PidMode = container.PidMode("container:" + ns.GetTargetId())
	}
	if u := ns.GetUsernsOptions(); u != nil && u.GetMode() == runtimeapi.NamespaceMode_POD {
		return errdefs.InvalidParameterf("user namespaces are not supported")
	}
	sec, err := seccompOpt(sc)
	if err != nil {
		return err
	}
	if sec != "" && !hc.Privileged {
		hc.SecurityOpt = append(hc.SecurityOpt, sec)
	}
	aa, err := appArmorOpt(sc)
	if err != nil {
		return err
	}
	if aa != "" {
		hc.SecurityOpt = append(hc.SecurityOpt, aa)
	}
	return nil
}

// userSpecOf is the engine's user string: uid[:gid] or name[:gid].
func userSpecOf(sc *runtimeapi.LinuxContainerSecurityContext) string {
	u := sc.GetRunAsUsername()
	if sc.GetRunAsUser() != nil {
		u = strconv.FormatInt(sc.GetRunAsUser().GetValue(), 10)
	}
	if u != "" && sc.GetRunAsGroup() != nil {
		u += ":" + strconv.FormatInt(sc.GetRunAsGroup().GetValue(), 10)
	}
	return u
}

// seccompOpt is the security option for the seccomp profile: none for the
// runtime's default, "seccomp=unconfined", or the JSON of a localhost
// profile file (read here, as the docker CLI reads --security-opt
// seccomp=FILE). The deprecated seccomp_profile_path is read too. No
// profile at all is unconfined, as with containerd: kubelet asks for
// RuntimeDefault when it means it.
func seccompOpt(sc *runtimeapi.LinuxContainerSecurityContext) (string, error) {
	typ, file := runtimeapi.SecurityProfile_Unconfined, ""
	if p := sc.GetSeccomp(); p != nil {
		typ, file = p.GetProfileType(), p.GetLocalhostRef()
	} else {
		switch path := sc.GetSeccompProfilePath(); {
		case path == "unconfined":
			typ = runtimeapi.SecurityProfile_Unconfined
		case strings.HasPrefix(path, "localhost/"):
			typ, file = runtimeapi.SecurityProfile_Localhost, strings.TrimPrefix(path, "localhost/")
		case path == "":
		case path == "runtime/default", path == "docker/default":
			typ = runtimeapi.SecurityProfile_RuntimeDefault
		default:
			return "", errdefs.InvalidParameterf("unknown seccomp profile path %q", path)
		}
	}
	switch typ {
	case runtimeapi.SecurityProfile_Unconfined:
		return "seccomp=unconfined", nil
	case runtimeapi.SecurityProfile_Localhost:
		if !filepath.IsAbs(file) {
			return "", errdefs.InvalidParameterf("seccomp profile %q: not an absolute path", file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", errdefs.InvalidParameter(fmt.Errorf("seccomp profile: %w", err))
		}
		return "seccomp=" + string(b), nil
	}
	return "", nil
}

// appArmorOpt is the security option for the AppArmor profile. On a host
// without AppArmor, as containerd does, the default and unconfined
// profiles are ignored and a named one is refused.
func appArmorOpt(sc *runtimeapi.LinuxContainerSecurityContext) (string, error) {
	typ, name := runtimeapi.SecurityProfile_RuntimeDefault, ""
	if p := sc.GetApparmor(); p != nil {
		typ, name = p.GetProfileType(), p.GetLocalhostRef()
	} else {
		switch p := sc.GetApparmorProfile(); {
		case p == "unconfined":
			typ = runtimeapi.SecurityProfile_Unconfined
		case strings.HasPrefix(p, "localhost/"):
			typ, name = runtimeapi.SecurityProfile_Localhost, strings.TrimPrefix(p, "localhost/")
		}
	}
	supported := apparmor.HostSupports()
	switch typ {
	case runtimeapi.SecurityProfile_Unconfined:
		if supported {
			return "apparmor=unconfined", nil
		}
	case runtimeapi.SecurityProfile_Localhost:
		if !supported {
			return "", errdefs.InvalidParameterf("apparmor is not supported")
		}
		return "apparmor=" + name, nil
	}
	return "", nil
}
