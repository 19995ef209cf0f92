package container

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/pkg/errdefs"
)

// configuredMACBackend is the part of the backend that tells the MAC
// address a container's main network was configured with (none for a
// generated one): API versions before 1.52 show it as Config.MacAddress.
type configuredMACBackend interface {
	ContainerConfiguredMAC(ref string) (network.HardwareAddr, error)
}

// legacyMACWarning is dockerd's warning for a container-wide MAC address
// sent at API 1.44 to 1.51.
const legacyMACWarning = "The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead."

// legacyMAC reads the container-wide MacAddress of a create body sent
// before API 1.52 (a Config field then, at the body's top level).
func legacyMAC(raw []byte) network.HardwareAddr {
	var v struct {
		MacAddress network.HardwareAddr `json:",omitempty"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.MacAddress
}

// migrateLegacyMAC moves a container-wide MAC address into the endpoint
// settings of the container's main network, as dockerd does: before 1.44
// it is the only MAC address (endpoint ones are dropped); from 1.44 both
// may be given but must agree; from 1.52 it is refused.
func migrateLegacyMAC(ctx context.Context, body *container.CreateRequest, mac network.HardwareAddr) (warning string, err error) {
	hc := body.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
		body.HostConfig = hc
	}
	if body.NetworkingConfig == nil {
		body.NetworkingConfig = &network.NetworkingConfig{}
	}
	nc := body.NetworkingConfig
	mode := hc.NetworkMode
	if mode == "" || mode == "default" {
		mode = network.NetworkBridge
	}
	bridgeOrUser := !mode.IsHost() && !mode.IsNone() && !mode.IsContainer()
	old := httputils.VersionLessThan(ctx, "1.44")
	if old {
		if len(mac) == 0 {
			for _, ep := range nc.EndpointsConfig {
				if ep != nil {
					ep.MacAddress = nil
				}
			}
			return "", nil
		}
		if !bridgeOrUser {
			return "", errdefs.InvalidParameter(errors.New("conflicting options: mac-address and the network mode"))
		}
	}
	if len(mac) == 0 {
		return "", nil
	}
	if !httputils.VersionLessThan(ctx, "1.52") {
		return "", errdefs.InvalidParameter(errors.New("container-wide MAC address no longer supported; use endpoint-specific MAC address instead"))
	}
	if !bridgeOrUser {
		return legacyMACWarning, nil
	}
	name := mode.NetworkName()
	var ep *network.EndpointSettings
	switch {
	case len(nc.EndpointsConfig) == 0:
		ep = &network.EndpointSettings{}
		nc.EndpointsConfig = map[string]*network.EndpointSettings{name: ep}
	case old:
		for _, e := range nc.EndpointsConfig {
			ep = e
		}
	default:
		ep = nc.EndpointsConfig[name]
		if ep == nil {
			ep = nc.EndpointsConfig["default"]
		}
		if ep == nil {
			return "", errdefs.InvalidParameter(errors.New("unable to migrate container-wide MAC address to a specific network: HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks"))
		}
	}
	if ep == nil {
		return "", nil
	}
	if old || len(ep.MacAddress) == 0 {
		ep.MacAddress = mac
	} else if !slices.Equal(ep.MacAddress, mac) {
		return "", errdefs.InvalidParameter(errors.New("the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty"))
	}
	if old {
		return "", nil
	}
	return legacyMACWarning, nil
}

// withConfiguredMAC adds Config.MacAddress to an inspect document sent
// before API 1.52: the main network's configured MAC address, never a
// generated one (moby#47228).
func withConfiguredMAC(ctx context.Context, b any, ref string, resp *container.InspectResponse, doc any) any {
	mb, ok := b.(configuredMACBackend)
	if !ok || resp == nil || resp.Config == nil || !httputils.VersionLessThan(ctx, "1.52") {
		return doc
	}
	mac, err := mb.ContainerConfiguredMAC(ref)
	if err != nil || len(mac) == 0 {
		return doc
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return doc
	}
	var top map[string]json.RawMessage
	var cfg map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil || json.Unmarshal(top["Config"], &cfg) != nil || cfg == nil {
		return doc
	}
	cfg["MacAddress"], _ = json.Marshal(mac.String())
	top["Config"], _ = json.Marshal(cfg)
	return top
}
