package container

import (
	"context"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/api/server/httputils"
)

// legacyNetworkSettings adds the NetworkSettings fields that API 1.52
// dropped (deprecated since 1.21 but still sent before 1.52): the
// sandbox-wide ones and the default bridge's endpoint copied to the top
// level, as dockerd filled them.
type legacyNetworkSettings struct {
	*container.NetworkSettings
	Bridge                 string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	SecondaryIPAddresses   []any
	SecondaryIPv6Addresses []any
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
}

type legacyInspect struct {
	*container.InspectResponse
	NetworkSettings *legacyNetworkSettings
}

// inspectForVersion returns what GET /containers/{id}/json sends at the
// request's API version.
func inspectForVersion(ctx context.Context, resp *container.InspectResponse) any {
	if resp == nil || resp.NetworkSettings == nil || !httputils.VersionLessThan(ctx, "1.52") {
		return resp
	}
	ns := &legacyNetworkSettings{NetworkSettings: resp.NetworkSettings}
	if es := resp.NetworkSettings.Networks["bridge"]; es != nil {
		ns.EndpointID = es.EndpointID
		if es.Gateway.IsValid() {
			ns.Gateway = es.Gateway.String()
		}
		if es.IPAddress.IsValid() {
			ns.IPAddress, ns.IPPrefixLen = es.IPAddress.String(), es.IPPrefixLen
		}
		if es.GlobalIPv6Address.IsValid() {
			ns.GlobalIPv6Address, ns.GlobalIPv6PrefixLen = es.GlobalIPv6Address.String(), es.GlobalIPv6PrefixLen
		}
		if es.IPv6Gateway.IsValid() {
			ns.IPv6Gateway = es.IPv6Gateway.String()
		}
		ns.MacAddress = es.MacAddress.String()
	}
	return legacyInspect{InspectResponse: resp, NetworkSettings: ns}
}
