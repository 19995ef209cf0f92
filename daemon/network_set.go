package daemon

import (
	"github.com/moby/moby/api/types/network"

	ctr "github.com/berthd/berth/container"
	berthnet "github.com/berthd/berth/network"
)

// explicitNetworks makes the set of networks c joins explicit before a
// connect or disconnect changes it: a nil EndpointsConfig stands for the
// NetworkMode's network alone, which a connect must keep and a disconnect
// must be able to remove. The CLI's "default" entry is renamed to the
// network it means. The caller holds c's lock.
func explicitNetworks(c *ctr.Container) {
	names := networkNames(c)
	if c.NetworkConfig == nil {
		c.NetworkConfig = &network.NetworkingConfig{}
	}
	eps := c.NetworkConfig.EndpointsConfig
	if eps == nil {
		eps = map[string]*network.EndpointSettings{}
		for _, n := range names {
			eps[n] = &network.EndpointSettings{}
		}
		c.NetworkConfig.EndpointsConfig = eps
	}
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	if es, ok := eps["default"]; ok && mode.Kind == "bridge" && mode.Network == berthnet.NameBridge {
		if _, taken := eps[mode.Network]; !taken {
			eps[mode.Network] = es
		}
		delete(eps, "default")
	}
}

// normalizeNetworkingConfig is the create request's networking config as
// it is kept: an empty EndpointsConfig means "the NetworkMode's network",
// as a nil one does.
func normalizeNetworkingConfig(nc *network.NetworkingConfig) {
	if nc != nil && len(nc.EndpointsConfig) == 0 {
		nc.EndpointsConfig = nil
	}
}
