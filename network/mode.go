package network

import (
	"context"
	"strings"

	"github.com/berthd/berth/network/bridge"
)

// Mode is a container's HostConfig.NetworkMode, parsed.
type Mode struct {
	// Kind is "bridge" (also for user-defined networks), "host", "none"
	// or "container".
	Kind string
	// Network is the network name for Kind "bridge" ("bridge" for the
	// default one); Container is the target of container:<id>.
	Network   string
	Container string
}

// ParseMode reads a NetworkMode: "", "default" and "bridge" are the
// default bridge, "host", "none", "container:<name|id>", anything else a
// network name.
func ParseMode(s string) Mode {
	switch {
	case s == "" || s == "default" || s == NameBridge:
		return Mode{Kind: "bridge", Network: NameBridge}
	case s == NameHost:
		return Mode{Kind: "host"}
	case s == NameNone:
		return Mode{Kind: "none"}
	case strings.HasPrefix(s, "container:"):
		return Mode{Kind: "container", Container: strings.TrimPrefix(s, "container:")}
	}
	return Mode{Kind: "bridge", Network: s}
}

// NewNamespace reports whether the runtime must create a fresh network
// namespace for the container. host uses the daemon's namespace;
// container:<id> joins the target's (JoinPath); the others get a new one.
func (m Mode) NewNamespace() bool { return m.Kind == "bridge" || m.Kind == "none" }

// Attacher sets up a container's network namespace for one mode once the
// runtime has created (or joined) it, and undoes that when the container
// stops. netnsPath is /proc/<pid>/ns/net or a bind-mounted namespace file.
type Attacher interface {
	Attach(ctx context.Context, netnsPath string, o JoinOptions) (*Endpoint, error)
	Detach(ctx context.Context, netnsPath string, containerID string) error
}

// AttacherFor returns the attacher of a mode: bridge networks go through
// the manager's endpoints; host, none and container: need no devices.
func (m *Manager) AttacherFor(mode Mode) Attacher {
	switch mode.Kind {
	case "bridge":
		return bridgeAttacher{m: m, network: mode.Network}
	case "none":
		return noneAttacher{}
	}
	return sharedAttacher{}
}

type bridgeAttacher struct {
	m       *Manager
	network string
}

func (b bridgeAttacher) Attach(ctx context.Context, netnsPath string, o JoinOptions) (*Endpoint, error) {
	o.NetnsPath = netnsPath
	return b.m.Join(ctx, b.network, o)
}

func (b bridgeAttacher) Detach(ctx context.Context, _ string, containerID string) error {
	return b.m.Leave(ctx, b.network, containerID)
}

// noneAttacher gives the namespace nothing but a working loopback.
type noneAttacher struct{}

func (noneAttacher) Attach(_ context.Context, netnsPath string, o JoinOptions) (*Endpoint, error) {
	return nil, bridge.SetUpLoopback(netnsPath, o.Pid)
}

func (noneAttacher) Detach(context.Context, string, string) error { return nil }

// sharedAttacher is for host and container: modes, whose namespace
// belongs to someone else and is left alone.
type sharedAttacher struct{}

func (sharedAttacher) Attach(context.Context, string, JoinOptions) (*Endpoint, error) {
	return nil, nil
}

func (sharedAttacher) Detach(context.Context, string, string) error { return nil }
