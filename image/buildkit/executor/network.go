package executor

import (
	"context"
	"errors"

	resourcestypes "github.com/moby/buildkit/executor/resources/types"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// NetworkProvider makes the network namespace of a step on the engine's
// default network (BuildKit's NetMode_UNSET, dockerd's bridge).
type NetworkProvider interface {
	New(ctx context.Context, hostname string) (Namespace, error)
}

// Namespace is one step's network namespace, already configured.
type Namespace interface {
	// Path is the namespace's file (an nsfs bind mount or
	// /proc/PID/ns/net) that the step joins.
	Path() string
	// Close detaches the namespace from its network and releases it.
	Close() error
}

// ResolvConfer is a Namespace that knows its steps' resolv.conf: the
// daemon's, made as for a container on the same network. A namespace
// that is not one gets the executor's (Options.DNS, else derived from
// the host's file).
type ResolvConfer interface {
	ResolvConf() []byte
}

// stepNetwork adapts a network mode to what BuildKit's spec generator
// asks of a namespace: setting itself on the spec.
type stepNetwork struct {
	// joined is the provider's namespace; nil for none and host.
	joined Namespace
	host   bool
}

func (n *stepNetwork) Set(s *specs.Spec) error {
	if s.Linux == nil {
		return errors.New("spec has no linux section")
	}
	kept := s.Linux.Namespaces[:0]
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != specs.NetworkNamespace {
			kept = append(kept, ns)
		}
	}
	s.Linux.Namespaces = kept
	switch {
	case n.host:
		// The host's namespace: no entry at all.
	case n.joined != nil:
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: n.joined.Path()})
	default:
		// A fresh namespace with only its loopback.
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	return nil
}

// resolvConf is the provider's resolv.conf for the step, if it has one.
func (n *stepNetwork) resolvConf() ([]byte, bool) {
	rc, ok := n.joined.(ResolvConfer)
	if !ok {
		return nil, false
	}
	return rc.ResolvConf(), true
}

func (n *stepNetwork) Close() error {
	if n.joined == nil {
		return nil
	}
	return n.joined.Close()
}

// Sample reports no network statistics: BuildKit's resource recorder is
// not used by this executor.
func (n *stepNetwork) Sample() (*resourcestypes.NetworkSample, error) { return nil, nil }
