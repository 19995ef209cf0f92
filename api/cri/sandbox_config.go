package cri

import (
	"encoding/json"
	"fmt"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/cgroups"
)

// podSandboxConfig translates RunPodSandbox's config into the engine's
// request; what cannot be honoured is InvalidArgument before anything is
// made.
func podSandboxConfig(c *runtimeapi.PodSandboxConfig, handler string) (backend.PodSandboxConfig, error) {
	if c == nil {
		return backend.PodSandboxConfig{}, invalidArgument("pod sandbox config is missing")
	}
	md := c.GetMetadata()
	if md == nil {
		return backend.PodSandboxConfig{}, invalidArgument("pod sandbox config has no metadata")
	}
	if md.GetName() == "" || md.GetNamespace() == "" || md.GetUid() == "" {
		return backend.PodSandboxConfig{}, invalidArgument(fmt.Sprintf("pod sandbox metadata needs a name, a namespace and a uid (got name=%q namespace=%q uid=%q)", md.GetName(), md.GetNamespace(), md.GetUid()))
	}
	out := backend.PodSandboxConfig{
		Name:           md.GetName(),
		Namespace:      md.GetNamespace(),
		UID:            md.GetUid(),
		Attempt:        md.GetAttempt(),
		Hostname:       c.GetHostname(),
		LogDirectory:   c.GetLogDirectory(),
		Labels:         c.GetLabels(),
		Annotations:    c.GetAnnotations(),
		RuntimeHandler: handler,
	}
	if dns := c.GetDnsConfig(); dns != nil {
		out.DNS = &backend.PodDNSConfig{Servers: dns.GetServers(), Searches: dns.GetSearches(), Options: dns.GetOptions()}
	}
	for _, pm := range c.GetPortMappings() {
		out.PortMappings = append(out.PortMappings, backend.PodPortMapping{
			Protocol:      strings.ToLower(pm.GetProtocol().String()),
			ContainerPort: pm.GetContainerPort(),
			HostPort:      pm.GetHostPort(),
			HostIP:        pm.GetHostIp(),
		})
	}
	if l := c.GetLinux(); l != nil {
		out.CgroupParent, out.Sysctls = l.GetCgroupParent(), l.GetSysctls()
		if err := podSecurity(l.GetSecurityContext(), &out); err != nil {
			return backend.PodSandboxConfig{}, err
		}
		out.Resources = podResources(l.GetOverhead(), l.GetResources())
	} else {
		out.Security.Seccomp = "unconfined"
	}
	orig, err := json.Marshal(c)
	if err != nil {
		return backend.PodSandboxConfig{}, invalidArgument(err.Error())
	}
	out.Original = orig
	return out, nil
}

// podSecurity fills the sandbox's namespaces and security context.
func podSecurity(sc *runtimeapi.LinuxSandboxSecurityContext, out *backend.PodSandboxConfig) error {
	if sc == nil {
		out.Security.Seccomp = "unconfined"
		return nil
	}
	if ns := sc.GetNamespaceOptions(); ns != nil {
		var err error
		if out.Namespaces.Network, err = namespaceMode("network", ns.GetNetwork()); err != nil {
			return err
		}
		if out.Namespaces.PID, err = namespaceMode("pid", ns.GetPid()); err != nil {
			return err
		}
		if out.Namespaces.IPC, err = namespaceMode("ipc", ns.GetIpc()); err != nil {
			return err
		}
		if ns.GetUsernsOptions() != nil && ns.GetUsernsOptions().GetMode() != runtimeapi.NamespaceMode_NODE {
			return invalidArgument("user namespaces are not supported")
		}
	}
	out.Security.Privileged = sc.GetPrivileged()
	out.Security.ReadonlyRootfs = sc.GetReadonlyRootfs()
	out.Security.SupplementalGroups = sc.GetSupplementalGroups()
	if u := sc.GetRunAsUser(); u != nil {
		v := u.GetValue()
		out.Security.RunAsUser = &v
	}
	if g := sc.GetRunAsGroup(); g != nil {
		if sc.GetRunAsUser() == nil {
			return invalidArgument("run_as_group is given without run_as_user")
		}
		v := g.GetValue()
		out.Security.RunAsGroup = &v
	}
	seccomp, err := seccompProfile(sc.GetSeccomp(), sc.GetSeccompProfilePath())
	if err != nil {
		return err
	}
	out.Security.Seccomp = seccomp
	return nil
}

// seccompProfile is the engine's name of a CRI profile; none given is
// unconfined, as the CRI says.
func seccompProfile(p *runtimeapi.SecurityProfile, path string) (string, error) {
	if p == nil {
		if path == "" {
			return "unconfined", nil
		}
		return path, nil
	}
	switch p.GetProfileType() {
	case runtimeapi.SecurityProfile_RuntimeDefault:
		return "runtime/default", nil
	case runtimeapi.SecurityProfile_Unconfined:
		return "unconfined", nil
	case runtimeapi.SecurityProfile_Localhost:
		if p.GetLocalhostRef() == "" {
			return "", invalidArgument("localhost seccomp profile without a path")
		}
		return "localhost/" + p.GetLocalhostRef(), nil
	}
	return "", invalidArgument(fmt.Sprintf("unknown seccomp profile type %v", p.GetProfileType()))
}

// namespaceMode is the engine's name of a CRI namespace mode.
func namespaceMode(which string, m runtimeapi.NamespaceMode) (string, error) {
	switch m {
	case runtimeapi.NamespaceMode_POD:
		return backend.NamespacePod, nil
	case runtimeapi.NamespaceMode_CONTAINER:
		return backend.NamespaceContainer, nil
	case runtimeapi.NamespaceMode_NODE:
		return backend.NamespaceNode, nil
	}
	return "", invalidArgument(fmt.Sprintf("%s namespace mode %v is not supported for a pod sandbox", which, m))
}

// podResources adds the overhead to the pod's resources, as containerd
// sizes the sandbox.
func podResources(overhead, res *runtimeapi.LinuxContainerResources) *backend.PodResources {
	if overhead == nil && res == nil {
		return nil
	}
	r := &backend.PodResources{}
	for _, x := range []*runtimeapi.LinuxContainerResources{res, overhead} {
		if x == nil {
			continue
		}
		r.CPUQuota += x.GetCpuQuota()
		r.CPUShares += x.GetCpuShares()
		r.Memory += x.GetMemoryLimitInBytes()
		if x.GetCpuPeriod() != 0 {
			r.CPUPeriod = x.GetCpuPeriod()
		}
	}
	r.Extra = podExtraResources(extraResources(res), extraResources(overhead))
	if *r == (backend.PodResources{}) {
		return nil
	}
	return r
}

// podExtraResources are the pod's hugepage limits, its resources' and
// its overhead's added by page size, and its resources' unified keys
// (an overhead's unified keys have nothing to add to).
func podExtraResources(res, overhead *cgroups.ExtraResources) *cgroups.ExtraResources {
	if overhead.IsZero() {
		return res
	}
	sum := res.Clone()
	for _, h := range overhead.HugepageLimits {
		sum.HugepageLimit(h.Pagesize).Limit += h.Limit
	}
	return sum
}
