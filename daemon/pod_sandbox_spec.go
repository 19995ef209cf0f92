package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
)

// podSandboxName is the pause container's name, as cri-dockerd names it,
// so `docker ps` reads the same on both.
func podSandboxName(c backend.PodSandboxConfig) string {
	return fmt.Sprintf("k8s_POD_%s_%s_%s_%d", c.Name, c.Namespace, c.UID, c.Attempt)
}

// validatePodSandboxConfig refuses what kubelet never sends and the
// engine cannot honour, before anything is made.
func validatePodSandboxConfig(c backend.PodSandboxConfig) error {
	if c.Name == "" || c.Namespace == "" || c.UID == "" {
		return errdefs.InvalidParameterf("pod sandbox metadata needs a name, a namespace and a uid (got name=%q namespace=%q uid=%q)", c.Name, c.Namespace, c.UID)
	}
	for _, m := range []string{c.Namespaces.Network, c.Namespaces.PID, c.Namespaces.IPC} {
		switch m {
		case "", backend.NamespacePod, backend.NamespaceContainer, backend.NamespaceNode:
		default:
			return errdefs.InvalidParameterf("unknown namespace mode %q", m)
		}
	}
	if c.Security.RunAsGroup != nil && c.Security.RunAsUser == nil {
		return errdefs.InvalidParameterf("run_as_group is given without run_as_user")
	}
	if c.DNS != nil {
		for _, s := range c.DNS.Servers {
			if _, err := netip.ParseAddr(s); err != nil {
				return errdefs.InvalidParameterf("DNS server %q is not an IP address", s)
			}
		}
	}
	for _, p := range c.PortMappings {
		if p.ContainerPort <= 0 || p.ContainerPort > 65535 || p.HostPort < 0 || p.HostPort > 65535 {
			return errdefs.InvalidParameterf("port mapping %d:%d is out of range", p.HostPort, p.ContainerPort)
		}
		switch p.Protocol {
		case "tcp", "udp", "sctp":
		default:
			return errdefs.InvalidParameterf("port mapping protocol %q is not tcp, udp or sctp", p.Protocol)
		}
	}
	return nil
}

// podSandboxCreateConfig is the pause container that holds the pod's
// namespaces. Its network starts as none: the pod network is attached
// through CNI once the process (and so its namespace) exists.
func podSandboxCreateConfig(c backend.PodSandboxConfig, image string) (backend.ContainerCreateConfig, error) {
	labels := map[string]string{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	for k, v := range c.Annotations {
		labels[backend.PodAnnotationPrefix+k] = v
	}
	labels[backend.PodContainerTypeLabel] = backend.PodTypeSandbox

	cfg := &container.Config{Image: image, Labels: labels}
	hc := &container.HostConfig{
		NetworkMode:    "none",
		IpcMode:        container.IPCModeShareable,
		Sysctls:        c.Sysctls,
		Privileged:     c.Security.Privileged,
		ReadonlyRootfs: c.Security.ReadonlyRootfs,
		// The pause process must never be restarted behind the pod's
		// back: kubelet decides, from its NOTREADY state.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
	}
	// CgroupParent is a field of the embedded Resources.
	hc.CgroupParent = c.CgroupParent
	if c.Namespaces.HostNetwork() {
		// The host's UTS goes with the host's network, as in containerd;
		// dockerd refuses a hostname there.
		hc.NetworkMode, hc.UTSMode = "host", "host"
	} else {
		cfg.Hostname = c.Hostname
	}
	if c.Namespaces.PID == backend.NamespaceNode {
		hc.PidMode = "host"
	}
	if c.Namespaces.IPC == backend.NamespaceNode {
		hc.IpcMode = container.IPCModeHost
	}
	if c.DNS != nil {
		for _, s := range c.DNS.Servers {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return backend.ContainerCreateConfig{}, errdefs.InvalidParameterf("DNS server %q is not an IP address", s)
			}
			hc.DNS = append(hc.DNS, a)
		}
		hc.DNSSearch, hc.DNSOptions = c.DNS.Searches, c.DNS.Options
	}
	if u := c.Security.RunAsUser; u != nil {
		cfg.User = strconv.FormatInt(*u, 10)
		if g := c.Security.RunAsGroup; g != nil {
			cfg.User += ":" + strconv.FormatInt(*g, 10)
		}
	}
	for _, g := range c.Security.SupplementalGroups {
		hc.GroupAdd = append(hc.GroupAdd, strconv.FormatInt(g, 10))
	}
	opt, err := seccompSecurityOpt(c.Security.Seccomp)
	if err != nil {
		return backend.ContainerCreateConfig{}, err
	}
	if opt != "" {
		hc.SecurityOpt = append(hc.SecurityOpt, opt)
	}
	// The handler names the runtime as --runtime does ("" is the
	// daemon's default); the pod's containers take the sandbox's.
	hc.Runtime = c.RuntimeHandler
	cc := backend.ContainerCreateConfig{Name: podSandboxName(c), Config: cfg, HostConfig: hc}
	if r := c.Resources; r != nil {
		hc.CPUPeriod, hc.CPUQuota, hc.CPUShares, hc.Memory = r.CPUPeriod, r.CPUQuota, r.CPUShares, r.Memory
		cc.ExtraResources = r.Extra
	}
	return cc, nil
}

// seccompSecurityOpt turns a CRI seccomp profile into the security option
// the Engine API takes: a localhost profile is read here, as the docker
// CLI reads --security-opt seccomp=FILE.
func seccompSecurityOpt(profile string) (string, error) {
	switch {
	case profile == "", profile == "runtime/default", profile == "docker/default":
		return "", nil
	case profile == "unconfined":
		return "seccomp=unconfined", nil
	case strings.HasPrefix(profile, "localhost/"):
		b, err := os.ReadFile(strings.TrimPrefix(profile, "localhost/"))
		if err != nil {
			return "", errdefs.InvalidParameterf("seccomp profile: %v", err)
		}
		return "seccomp=" + string(b), nil
	}
	return "", errdefs.InvalidParameterf("unknown seccomp profile %q", profile)
}
