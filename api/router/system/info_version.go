package system

import (
	"context"
	"encoding/json"

	"github.com/moby/moby/api/types/system"

	"github.com/berthd/berth/api/server/httputils"
)

// infoForVersion shapes GET /info for the request's API version, as the
// version history describes: fields newer than the version are left out,
// and fields later versions dropped come back with the values dockerd
// gave them.
func infoForVersion(ctx context.Context, in *system.Info) (any, error) {
	if !httputils.VersionLessThan(ctx, "1.53") {
		return in, nil
	}
	info := *in
	info.NRI = nil // 1.53
	extra := map[string]any{}
	if httputils.VersionLessThan(ctx, "1.50") {
		info.DiscoveredDevices = nil
		// Omitted from 1.50 on, always false before.
		extra["BridgeNfIptables"] = false
		extra["BridgeNfIp6tables"] = false
	}
	if httputils.VersionLessThan(ctx, "1.49") {
		info.FirewallBackend = nil
		// 1.49 dropped the expected commits; they equalled the ID.
		extra["ContainerdCommit"] = map[string]any{"ID": info.ContainerdCommit.ID, "Expected": info.ContainerdCommit.ID}
		extra["RuncCommit"] = map[string]any{"ID": info.RuncCommit.ID, "Expected": info.RuncCommit.ID}
		extra["InitCommit"] = map[string]any{"ID": info.InitCommit.ID, "Expected": info.InitCommit.ID}
	}
	if httputils.VersionLessThan(ctx, "1.46") {
		info.Containerd = nil
	}
	if httputils.VersionLessThan(ctx, "1.44") && info.Runtimes != nil {
		rts := make(map[string]system.RuntimeWithStatus, len(info.Runtimes))
		for k, rt := range info.Runtimes {
			rts[k] = system.RuntimeWithStatus{Runtime: rt.Runtime}
		}
		info.Runtimes = rts
	}
	if len(extra) == 0 && !httputils.VersionLessThan(ctx, "1.47") {
		return &info, nil
	}
	b, err := json.Marshal(&info)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		m[k] = v
	}
	if httputils.VersionLessThan(ctx, "1.47") {
		// Omitted from 1.48 on; older versions always carry them.
		if rc, ok := m["RegistryConfig"].(map[string]any); ok {
			rc["AllowNondistributableArtifactsCIDRs"] = nil
			rc["AllowNondistributableArtifactsHostnames"] = nil
		}
	}
	return m, nil
}
