package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/sirupsen/logrus"
)

// Config locates the plugins and network configurations.
type Config struct {
	// BinDirs are searched in order for plugin binaries.
	BinDirs []string
	// ConfDir holds *.conflist / *.conf / *.json; the first in lexical
	// order is the pod network, as kubelet's runtimes do.
	ConfDir string
	// CacheDir keeps libcni's results, so a DEL after a daemon restart
	// gets what the ADD returned.
	CacheDir string
}

// PortMapping is a pod's hostPort, given to the portmap plugin through
// the portMappings capability.
type PortMapping struct {
	HostPort      int32
	ContainerPort int32
	Protocol      string // "tcp", "udp" or "sctp"
	HostIP        string
}

// Pod names the sandbox being attached.
type Pod struct {
	ID        string // the sandbox ID: CNI's container ID
	Name      string
	Namespace string
	UID       string
	// NetnsPath is the sandbox's network namespace: /proc/PID/ns/net or
	// a bind-mounted file. Teardown accepts a path that no longer exists.
	NetnsPath    string
	PortMappings []PortMapping
	CgroupParent string
	// Annotations are the pod's CRI annotations, given to plugins that
	// ask for the io.kubernetes.cri.pod-annotations capability.
	Annotations map[string]string
}

// Result is what the networks gave the pod.
type Result struct {
	// IPs are the pod's addresses, IPv4 first.
	IPs []net.IP
	// Network is the name of the network configuration that was used.
	Network string
}

// IfName is the pod's interface, as kubelet's runtimes name it.
const IfName = "eth0"

// cleanupTimeout bounds the DEL that undoes a failed ADD: the caller's
// context may be what failed it (a deadline), and the undo must run anyway.
const cleanupTimeout = time.Minute

// Manager attaches pods to the configured network. It is safe for
// concurrent use; plugins serialise what they share (host-local's store,
// iptables) themselves.
type Manager struct {
	cfg Config
	lib *libcni.CNIConfig

	mu   sync.Mutex // guards conf
	conf confCache
}

// New returns a Manager; it does not need the configuration to exist yet.
func New(cfg Config) *Manager {
	// An explicit Exec: libcni would otherwise create one lazily on first
	// use, a write that races between concurrent pods.
	exec := &invoke.DefaultExec{
		RawExec:       &invoke.RawExec{Stderr: os.Stderr},
		PluginDecoder: version.PluginDecoder{},
	}
	return &Manager{cfg: cfg, lib: libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, cfg.CacheDir, exec)}
}

// network is the pod network as the configuration directory describes it
// now.
func (m *Manager) network() (*libcni.NetworkConfigList, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conf.current(m.cfg.ConfDir)
}

// Ready is nil once a usable network configuration exists and its
// plugins are installed, else the reason (CRI Status reports NetworkReady
// false with it). The reason wraps ErrNotReady. A missing plugin binary is
// reported here, where an operator reads node conditions, rather than
// first as every pod's failed sandbox.
func (m *Manager) Ready() error {
	list, err := m.network()
	if err != nil {
		return err
	}
	for _, p := range list.Plugins {
		for _, plugin := range []string{p.Network.Type, p.Network.IPAM.Type} {
			if plugin == "" {
				continue // no IPAM
			}
			if _, err := invoke.FindInPath(plugin, m.cfg.BinDirs); err != nil {
				return fmt.Errorf("%w: network %q: %v", ErrNotReady, list.Name, err)
			}
		}
	}
	return nil
}

// Setup attaches p to the pod network (CNI ADD). When a plugin of the list
// fails, the ones before it are undone (CNI DEL) before Setup returns, so
// a failed Setup leaves no interface, address or port mapping behind.
func (m *Manager) Setup(ctx context.Context, p Pod) (*Result, error) {
	if p.ID == "" || p.NetnsPath == "" {
		return nil, fmt.Errorf("cni: setup needs a sandbox ID and a network namespace (got %q, %q)", p.ID, p.NetnsPath)
	}
	list, err := m.network()
	if err != nil {
		return nil, err
	}
	rt := runtimeConf(p, p.NetnsPath)
	log := logrus.WithFields(logrus.Fields{"sandbox": p.ID, "network": list.Name})
	res, err := m.lib.AddNetworkList(ctx, list, rt)
	if err == nil {
		var ips []net.IP
		if ips, err = podIPs(res); err == nil {
			log.WithField("ips", ips).Debug("cni: pod attached")
			return &Result{IPs: ips, Network: list.Name}, nil
		}
	}
	err = fmt.Errorf("cni: attaching pod %s to network %q: %w", p.ID, list.Name, err)
	undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if delErr := m.lib.DelNetworkList(undo, list, rt); delErr != nil {
		log.WithError(delErr).Warn("cni: undoing a failed attach")
		return nil, errors.Join(err, fmt.Errorf("cni: undoing it: %w", delErr))
	}
	return nil, err
}

// Teardown detaches p (CNI DEL); it succeeds when there is nothing left.
//
// The DEL uses what the ADD used, from libcni's cache (the configuration,
// CNI_ARGS and capability args such as the port mappings that portmap
// needs to find its rules), so a configuration changed or removed since
// the ADD still tears down what that ADD made. Without a cache entry (an
// ADD from before the cache, or a lost cache) it uses the current
// configuration and p. A namespace that no longer exists is passed as
// empty, as containerd does: plugins then release what lives outside it
// (addresses, host rules) and skip the interface, which went with it.
func (m *Manager) Teardown(ctx context.Context, p Pod) error {
	if p.ID == "" {
		return errors.New("cni: teardown needs a sandbox ID")
	}
	netns := p.NetnsPath
	if netns != "" {
		if _, err := os.Stat(netns); errors.Is(err, os.ErrNotExist) {
			netns = ""
		}
	}
	attachments, err := m.lib.GetCachedAttachments(p.ID)
	if err != nil {
		logrus.WithError(err).WithField("sandbox", p.ID).Warn("cni: reading the attachment cache; using the current config")
		attachments = nil
	}
	var errs []error
	done := 0
	for _, a := range attachments {
		if a.IfName != IfName {
			continue
		}
		list, err := libcni.NetworkConfFromBytes(a.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("cni: cached config of network %q for pod %s: %w", a.Network, p.ID, err))
			continue
		}
		rt := &libcni.RuntimeConf{ContainerID: p.ID, NetNS: netns, IfName: IfName, Args: a.CniArgs, CapabilityArgs: a.CapabilityArgs}
		if err := m.lib.DelNetworkList(ctx, list, rt); err != nil {
			errs = append(errs, fmt.Errorf("cni: detaching pod %s from network %q: %w", p.ID, list.Name, err))
		}
		done++
	}
	if done > 0 {
		return errors.Join(errs...)
	}
	list, err := m.network()
	if err != nil {
		// Nothing cached and nothing configured: nothing this manager
		// knows of is attached; failing would only make kubelet retry the
		// stop forever.
		logrus.WithError(err).WithField("sandbox", p.ID).Debug("cni: no cached attachment and no network config; nothing to tear down")
		return errors.Join(errs...)
	}
	if err := m.lib.DelNetworkList(ctx, list, runtimeConf(p, netns)); err != nil {
		errs = append(errs, fmt.Errorf("cni: detaching pod %s from network %q: %w", p.ID, list.Name, err))
	}
	return errors.Join(errs...)
}

// Attached lists the sandbox IDs that libcni's cache holds an attachment
// of this Manager's interface for: the pods set up and not yet torn down.
// A daemon restarting after a crash tears down those whose sandbox is gone,
// so their addresses and hostPort rules do not outlive them.
func (m *Manager) Attached() ([]string, error) {
	attachments, err := m.lib.GetCachedAttachments("")
	if err != nil {
		return nil, fmt.Errorf("cni: reading the attachment cache: %w", err)
	}
	var ids []string
	for _, a := range attachments {
		if a.IfName == IfName && !slices.Contains(ids, a.ContainerID) {
			ids = append(ids, a.ContainerID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// runtimeConf is one pod's invocation arguments: kubelet's CNI_ARGS and the
// capability args plugins may ask for in their config.
func runtimeConf(p Pod, netns string) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{
		ContainerID: p.ID,
		NetNS:       netns,
		IfName:      IfName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", p.Namespace},
			{"K8S_POD_NAME", p.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", p.ID},
			{"K8S_POD_UID", p.UID},
		},
		CapabilityArgs: map[string]any{},
	}
	if pm := portMappings(p.PortMappings); len(pm) > 0 {
		rt.CapabilityArgs["portMappings"] = pm
	}
	if len(p.Annotations) > 0 {
		rt.CapabilityArgs["io.kubernetes.cri.pod-annotations"] = p.Annotations
	}
	if p.CgroupParent != "" {
		rt.CapabilityArgs["cgroupPath"] = p.CgroupParent
	}
	return rt
}

// portMapEntry is the portMappings capability's element, as portmap
// reads it.
type portMapEntry struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// portMappings keeps the mappings that publish a host port (a CRI
// PortMapping without one only documents the container port) with the
// protocol lower-cased, as portmap compares it.
func portMappings(in []PortMapping) []portMapEntry {
	var out []portMapEntry
	for _, pm := range in {
		if pm.HostPort <= 0 {
			continue
		}
		proto := pm.Protocol
		if proto == "" {
			proto = "tcp"
		}
		out = append(out, portMapEntry{
			HostPort:      int(pm.HostPort),
			ContainerPort: int(pm.ContainerPort),
			Protocol:      strings.ToLower(proto),
			HostIP:        pm.HostIP,
		})
	}
	return out
}
