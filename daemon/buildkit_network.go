package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/image/buildkit/executor"
	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/network/resolvconf"
	"github.com/berthd/berth/pkg/apparmor"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/netns"
	"github.com/berthd/berth/pkg/stringid"
)

// buildEndpointPrefix starts the endpoint owner ID of every build step on
// the default bridge: the steps are no containers, and a daemon that
// died during a build finds its steps' endpoints by it.
const buildEndpointPrefix = "buildkit-"

// buildExecutorOptions are the options of BuildKit's executor that come
// from the daemon: steps' cgroups under the daemon's cgroup parent (as
// dockerd puts them under its own), the daemon's dns settings for steps
// on the none network, docker-default where the host has AppArmor, and
// buildNetwork for the default network. root is the executor's scratch
// directory.
func (d *Daemon) buildExecutorOptions(root string) executor.Options {
	cfg := d.Config()
	parent := cfg.CgroupParent
	if parent == "" {
		parent = "/berth"
	}
	opts := executor.Options{
		Root: root, CgroupParent: parent, Network: d.buildNetwork(),
		NoPivot: os.Getenv("DOCKER_RAMDISK") != "",
	}
	if len(cfg.DNS) > 0 || len(cfg.DNSSearch) > 0 || len(cfg.DNSOptions) > 0 {
		opts.DNS = &executor.DNS{Nameservers: cfg.DNS, Search: cfg.DNSSearch, Options: cfg.DNSOptions}
	}
	if appArmor.supported() {
		if err := appArmor.ensureDefault(); err != nil {
			logrus.WithError(err).Error("build steps run without AppArmor")
		} else {
			opts.AppArmorProfile = apparmor.DefaultProfile
		}
	}
	return opts
}

// buildNetwork is the executor's provider of default-network namespaces:
// the default bridge. It needs the network manager only when a step asks.
func (d *Daemon) buildNetwork() executor.NetworkProvider { return &buildNetworks{d: d} }

// buildNetworks gives each build step on the default network a namespace
// of its own with an endpoint on the default bridge, as dockerd's builder
// gives each step a sandbox on "bridge".
type buildNetworks struct {
	d *Daemon
	// dir holds the pinned namespaces, one file per step, under the exec
	// root; swept is done once the leftovers of a previous daemon are
	// gone. Both at the first step: the daemon may not be set up when
	// the executor is made.
	dir   string
	swept sync.Once
}

var _ executor.NetworkProvider = (*buildNetworks)(nil)

// errNoBuildBridge answers a step on the default network of a daemon
// without a default bridge (--bridge=none).
var errNoBuildBridge = errdefs.Unavailable(errors.New("the default bridge network is disabled (bridge: none); build with --network=host or none"))

// New pins a namespace and joins it to the default bridge.
func (b *buildNetworks) New(ctx context.Context, hostname string) (executor.Namespace, error) {
	if b.d.networks == nil {
		return nil, errNoBuildBridge
	}
	b.swept.Do(func() {
		if b.dir == "" {
			b.dir = filepath.Join(b.d.Config().ExecRoot, "buildkit", "netns")
		}
		b.removeLeftovers(ctx)
	})
	if _, err := b.d.networks.Find(ctx, berthnet.NameBridge); err != nil {
		return nil, errNoBuildBridge
	}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return nil, err
	}
	id := buildEndpointPrefix + stringid.GenerateRandomID()
	path := filepath.Join(b.dir, id)
	if err := netns.New(path); err != nil {
		return nil, err
	}
	ep, err := b.d.networks.Join(ctx, berthnet.NameBridge, berthnet.JoinOptions{ContainerID: id, Name: id, NetnsPath: path})
	if err != nil {
		_ = netns.Remove(path)
		return nil, fmt.Errorf("join the default bridge: %w", err)
	}
	// The resolv.conf of a container on the default bridge: the host's
	// (or daemon.json's resolv-conf) without loopback resolvers, the
	// daemon's dns settings over it.
	p := b.d.resolvConfParams(resolvconf.ModeLegacy, nil, nil, nil)
	p.IPv6 = ep.Settings().GlobalIPv6Address.IsValid()
	return &buildNamespace{b: b, id: id, networkID: ep.NetworkID, path: path, resolvConf: resolvconf.Build(p).Content}, nil
}

// removeLeftovers removes the endpoints and namespaces of steps that a
// previous daemon ran when it died.
func (b *buildNetworks) removeLeftovers(ctx context.Context) {
	if r, err := b.d.networks.Find(ctx, berthnet.NameBridge); err == nil {
		for _, e := range r.Endpoints {
			if strings.HasPrefix(e.ContainerID, buildEndpointPrefix) {
				if err := b.d.networks.Leave(ctx, r.ID, e.ContainerID); err != nil {
					logrus.WithError(err).WithField("endpoint", e.ContainerID).Warn("removing a build step's leftover endpoint")
				}
			}
		}
	}
	entries, _ := os.ReadDir(b.dir)
	for _, ent := range entries {
		if err := netns.Remove(filepath.Join(b.dir, ent.Name())); err != nil {
			logrus.WithError(err).WithField("netns", ent.Name()).Warn("removing a build step's leftover network namespace")
		}
	}
}

// buildNamespace is one step's namespace on the default bridge.
type buildNamespace struct {
	b          *buildNetworks
	id         string
	networkID  string
	path       string
	resolvConf []byte
	closeOnce  sync.Once
	closeErr   error
}

var _ executor.ResolvConfer = (*buildNamespace)(nil)

func (n *buildNamespace) Path() string { return n.path }

func (n *buildNamespace) ResolvConf() []byte { return n.resolvConf }

// Close removes the endpoint (its veth pair, its address) and the
// namespace, whatever the step's context: the step is over.
func (n *buildNamespace) Close() error {
	n.closeOnce.Do(func() {
		leaveErr := n.b.d.networks.Leave(context.Background(), n.networkID, n.id)
		n.closeErr = errors.Join(leaveErr, netns.Remove(n.path))
	})
	return n.closeErr
}
