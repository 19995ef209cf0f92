package cni

import (
	"context"
	"errors"
	"net"
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
}

// Result is what the networks gave the pod.
type Result struct {
	// IPs are the pod's addresses, IPv4 first.
	IPs []net.IP
}

// Manager attaches pods to the configured network.
type Manager struct{ cfg Config }

// New returns a Manager; it does not need the configuration to exist yet.
func New(cfg Config) *Manager { return &Manager{cfg: cfg} }

var errNotImplemented = errors.New("cni: not implemented yet")

// Ready is nil once a usable network configuration exists, else the
// reason (CRI Status reports NetworkReady false with it).
func (m *Manager) Ready() error { return errNotImplemented }

// Setup attaches p to the pod network (CNI ADD).
func (m *Manager) Setup(ctx context.Context, p Pod) (*Result, error) { return nil, errNotImplemented }

// Teardown detaches p (CNI DEL); it succeeds when there is nothing left.
func (m *Manager) Teardown(ctx context.Context, p Pod) error { return errNotImplemented }
