package buildkit

import (
	"math"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/disk"
)

// GC configures BuildKit's automatic collection of its cache (daemon.json's
// "builder.gc").
type GC struct {
	Disabled bool
	// Rules, when set, replace the default policy; each is a prune as
	// POST /build/prune takes it.
	Rules []PruneOptions
	// ReservedSpace, MaxUsedSpace and MinFreeSpace size the default
	// policy; all zero sizes it from the disk under the root.
	ReservedSpace, MaxUsedSpace, MinFreeSpace int64
}

// policy is the GC policy the worker runs after builds.
func (g GC) policy(root string) ([]client.PruneInfo, error) {
	if g.Disabled {
		return nil, nil
	}
	if len(g.Rules) == 0 {
		return defaultGCPolicy(root, g.ReservedSpace, g.MaxUsedSpace, g.MinFreeSpace), nil
	}
	out := make([]client.PruneInfo, 0, len(g.Rules))
	for _, r := range g.Rules {
		req, err := pruneRequest(r, time.Now())
		if err != nil {
			return nil, err
		}
		out = append(out, client.PruneInfo{
			All:           req.All,
			Filter:        req.Filter,
			KeepDuration:  time.Duration(req.KeepDuration),
			ReservedSpace: req.ReservedSpace,
			MaxUsedSpace:  req.MaxUsedSpace,
			MinFreeSpace:  req.MinFreeSpace,
		})
	}
	return out, nil
}

// Sizes of dockerd's default policy when nothing is configured, as shares
// of the disk: keep 10% whatever happens, never use more than 80%, try to
// leave 20% free; 2 GB kept when the disk cannot be read.
const (
	reservedPercent   = 10
	maxUsedPercent    = 80
	minFreePercent    = 20
	reservedFallback  = 2e9
	minTemporaryBytes = 512e6
)

// defaultGCPolicy is dockerd's default: first drop what is cheap to make
// again (local contexts, cache mounts, git checkouts) unused for two days
// once it takes more than a seventh of the reserved space (512 MB at
// least), then anything unused for 60 days, then whatever keeps the
// cache under its cap, shared records last.
func defaultGCPolicy(root string, reserved, maxUsed, minFree int64) []client.PruneInfo {
	if reserved == 0 && maxUsed == 0 && minFree == 0 {
		if st, err := disk.GetDiskStat(root); err == nil {
			reserved = diskShare(st.Total, reservedPercent)
			maxUsed = diskShare(st.Total, maxUsedPercent)
			minFree = diskShare(st.Total, minFreePercent)
		} else {
			reserved = reservedFallback
		}
	}
	// e·π·φ ≈ 13.8: dockerd's share of the reserved space for temporary
	// data.
	temporary := int64(math.Round(float64(reserved) * math.E * math.Pi * math.Phi / 100))
	temporary = max(temporary, minTemporaryBytes)
	capped := func(p client.PruneInfo) client.PruneInfo {
		p.ReservedSpace, p.MaxUsedSpace, p.MinFreeSpace = reserved, maxUsed, minFree
		return p
	}
	return []client.PruneInfo{
		{
			Filter:       []string{"type==source.local", "type==exec.cachemount", "type==source.git.checkout"},
			KeepDuration: 48 * time.Hour,
			MaxUsedSpace: temporary,
		},
		capped(client.PruneInfo{KeepDuration: 60 * 24 * time.Hour}),
		capped(client.PruneInfo{}),
		capped(client.PruneInfo{All: true}),
	}
}

// diskShare is percent of total, rounded up to whole (decimal) gigabytes
// as dockerd rounds.
func diskShare(total, percent int64) int64 {
	return (total*percent/100/(1<<30) + 1) * 1e9
}
