package daemon

import (
	"github.com/moby/moby/api/types/network"

	berthnet "github.com/berthd/berth/network"
)

// ContainerConfiguredMAC is the MAC address the container's main network
// (its network mode's) was configured with, nil if it gets a generated
// one: what API versions before 1.52 show as Config.MacAddress.
func (d *Daemon) ContainerConfiguredMAC(ref string) (network.HardwareAddr, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	c.Lock()
	defer c.Unlock()
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	if mode.Kind != "bridge" || c.NetworkConfig == nil {
		return nil, nil
	}
	name := mode.Network
	if d.networks != nil {
		if r, err := d.networks.Find(d.life.Context(), name); err == nil {
			name = r.Name
		}
	}
	cfg := d.endpointConfig(c, name)
	if cfg == nil && mode.Network == berthnet.NameBridge {
		cfg = c.NetworkConfig.EndpointsConfig["default"]
	}
	if cfg == nil {
		return nil, nil
	}
	return append(network.HardwareAddr(nil), cfg.MacAddress...), nil
}
