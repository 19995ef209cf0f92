package buildkit

import (
	"github.com/moby/buildkit/client"
	bkconfig "github.com/moby/buildkit/cmd/buildkitd/config"
	"github.com/moby/buildkit/util/disk"
)

// DefaultGCPolicy is BuildKit's default policy sized to the disk under root,
// as dockerd's builder uses: drop easily rebuilt data (local contexts, cache
// mounts, git checkouts) first, then anything unused for 60 days, then
// whatever keeps the cache under its cap.
func DefaultGCPolicy(root string) []client.PruneInfo {
	dstat, _ := disk.GetDiskStat(root)
	policies := bkconfig.DefaultGCPolicy(bkconfig.GCConfig{}, dstat)
	out := make([]client.PruneInfo, 0, len(policies))
	for _, p := range policies {
		out = append(out, client.PruneInfo{
			All:           p.All,
			Filter:        p.Filters,
			KeepDuration:  p.KeepDuration.Duration,
			ReservedSpace: p.ReservedSpace.AsBytes(dstat),
			MaxUsedSpace:  p.MaxUsedSpace.AsBytes(dstat),
			MinFreeSpace:  p.MinFreeSpace.AsBytes(dstat),
		})
	}
	return out
}
