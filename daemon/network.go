package daemon

import (
	"context"
	"maps"
	"path/filepath"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/daemon/config"
	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/network/firewall"
	"github.com/berthd/berth/network/ipam"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
	volumeplugin "github.com/berthd/berth/volume/plugin"
)

// netfilterTable names this daemon's nftables table.
func netfilterTable(cfg *config.Config) string {
	return firewall.TableName(cfg.DataRoot, config.DefaultDataRoot)
}

// newNetworkManager loads the network store; it is cheap (a few small
// files). The bridge and netfilter setup run later, in the background, from
// startNetworking.
func newNetworkManager(cfg *config.Config, engineID string, plugins *volumeplugin.Registry) (*berthnet.Manager, error) {
	var pools []ipam.Pool
	for _, p := range cfg.DefaultAddressPools {
		pools = append(pools, ipam.Pool{Base: p.Base, Size: p.Size})
	}
	if cfg.FirewallBackend == "iptables" {
		logrus.Warn("firewall-backend=iptables: berth has only the nftables backend; its rules go into nftables")
	}
	return berthnet.New(berthnet.Config{
		Root:               filepath.Join(cfg.DataRoot, "network"),
		EngineID:           engineID,
		DefaultBridge:      cfg.BridgeName,
		BridgeIP:           cfg.BridgeIP,
		FixedCIDR:          cfg.FixedCIDR,
		FixedCIDRv6:        cfg.FixedCIDRv6,
		DefaultIP:          cfg.DefaultIP,
		EnableIPv6:         cfg.EnableIPv6,
		MTU:                cfg.MTU,
		IPTables:           config.BoolOr(cfg.EnableIPTables, true),
		IPMasq:             config.BoolOr(cfg.EnableIPMasq, true),
		ICC:                config.BoolOr(cfg.InterContainerComm, true),
		UserlandProxy:      config.BoolOr(cfg.UserlandProxy, true),
		IPForward:          config.BoolOr(cfg.EnableIPForward, true),
		IPForwardNoDrop:    cfg.IPForwardNoDrop,
		AllowDirectRouting: cfg.AllowDirectRouting,
		AcceptFwMark:       cfg.BridgeAcceptFwMark,
		NoIPv6NAT:          !config.BoolOr(cfg.EnableIP6Tables, true),
		Pools:              pools,
		Table:              netfilterTable(cfg),
		// Network driver plugins, managed or legacy.
		RemoteDriver: func(ctx context.Context, name string) (berthnet.RemoteDriver, error) {
			if plugins == nil {
				return nil, errdefs.NotFoundf("plugin %q not found", name)
			}
			p, err := plugins.Get(ctx, name, "NetworkDriver")
			if err != nil {
				return nil, err
			}
			return p, nil
		},
	})
}

// Networks is the network manager, for the container code: Join/Leave for
// bridge networks, AttacherFor(ParseMode(...)) for every mode.
func (d *Daemon) Networks() *berthnet.Manager { return d.networks }

func (d *Daemon) logNetworkEvent(action events.Action, r *berthnet.Record) {
	d.events.Log(events.NetworkEventType, action, events.Actor{
		ID:         r.ID,
		Attributes: map[string]string{"name": r.Name, "type": r.Driver},
	})
}

func (d *Daemon) inspectNetwork(r *berthnet.Record, opts backend.NetworkInspectOptions) network.Inspect {
	out := network.Inspect{Network: r.Network(), Containers: r.Containers()}
	if opts.WithStatus && berthnet.HasEndpoints(r.Driver) {
		out.Status = d.networks.Status(r.ID)
	}
	return out
}

// NetworkList answers GET /networks.
func (d *Daemon) NetworkList(ctx context.Context, f filters.Args) ([]network.Inspect, error) {
	recs, err := d.networks.List(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]network.Inspect, 0, len(recs))
	for _, r := range recs {
		out = append(out, network.Inspect{Network: r.Network()})
	}
	return out, nil
}

// NetworkInspect answers GET /networks/{id}.
func (d *Daemon) NetworkInspect(ctx context.Context, term string, opts backend.NetworkInspectOptions) (network.Inspect, error) {
	r, err := d.networks.Find(ctx, term)
	if err != nil {
		return network.Inspect{}, err
	}
	if opts.Scope != "" && opts.Scope != "local" {
		return network.Inspect{}, errdefs.NotFoundf("network %s not found", term)
	}
	return d.inspectNetwork(r, opts), nil
}

// NetworkCreate answers POST /networks/create.
func (d *Daemon) NetworkCreate(ctx context.Context, req network.CreateRequest) (_ network.CreateResponse, err error) {
	defer timed(d.metrics.NetworkAction, "create", &err)()
	req.Options = d.withDefaultNetworkOpts(req)
	r, err := d.networks.Create(ctx, req)
	if err != nil {
		return network.CreateResponse{}, err
	}
	d.logNetworkEvent(events.ActionCreate, r)
	return network.CreateResponse{ID: r.ID}, nil
}

// withDefaultNetworkOpts is req's driver options with daemon.json's
// default-network-opts for its driver added where req sets none, as
// dockerd: not for a config-from network, and never the enable_ipv4/ipv6
// options a request decides with its own fields.
func (d *Daemon) withDefaultNetworkOpts(req network.CreateRequest) map[string]string {
	driver := req.Driver
	if driver == "" {
		driver = "bridge"
	}
	defaults := d.Config().DefaultNetworkOpts[driver]
	if len(defaults) == 0 || req.ConfigFrom != nil {
		return req.Options
	}
	out := maps.Clone(req.Options)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range defaults {
		if _, ok := out[k]; ok {
			continue
		}
		if (k == "com.docker.network.enable_ipv4" && req.EnableIPv4 != nil) || (k == "com.docker.network.enable_ipv6" && req.EnableIPv6 != nil) {
			continue
		}
		out[k] = v
	}
	return out
}

// NetworkRemove answers DELETE /networks/{id}.
func (d *Daemon) NetworkRemove(ctx context.Context, term string) (err error) {
	defer timed(d.metrics.NetworkAction, "delete", &err)()
	r, err := d.networks.Remove(ctx, term)
	if err != nil {
		return err
	}
	d.logNetworkEvent(events.ActionDestroy, r)
	return nil
}

// NetworkConnect answers POST /networks/{id}/connect.
func (d *Daemon) NetworkConnect(ctx context.Context, term string, req network.ConnectRequest) (err error) {
	defer timed(d.metrics.NetworkAction, "connect", &err)()
	r, err := d.networks.Find(ctx, term)
	if err != nil {
		return err
	}
	return d.connectContainer(ctx, r, req.Container, req.EndpointConfig)
}

// NetworkDisconnect answers POST /networks/{id}/disconnect.
func (d *Daemon) NetworkDisconnect(ctx context.Context, term string, req network.DisconnectRequest) (err error) {
	defer timed(d.metrics.NetworkAction, "disconnect", &err)()
	r, err := d.networks.Find(ctx, term)
	if err != nil {
		return err
	}
	return d.disconnectContainer(ctx, r, req.Container, req.Force)
}

// NetworksPrune answers POST /networks/prune.
func (d *Daemon) NetworksPrune(ctx context.Context, f filters.Args) (network.PruneReport, error) {
	removed, err := d.networks.Prune(ctx, f)
	rep := network.PruneReport{NetworksDeleted: []string{}}
	for _, r := range removed {
		rep.NetworksDeleted = append(rep.NetworksDeleted, r.Name)
		d.logNetworkEvent(events.ActionDestroy, r)
	}
	if err != nil {
		return rep, err
	}
	d.events.Log(events.NetworkEventType, events.ActionPrune, events.Actor{Attributes: map[string]string{"reclaimed": "0"}})
	return rep, nil
}
