package buildkit

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/moby/api/types/build"
	"google.golang.org/grpc"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
	"github.com/berthd/berth/pkg/timestamp"
)

// PruneOptions are POST /build/prune's: which records go and how much
// cache to keep.
type PruneOptions struct {
	All     bool
	Filters filters.Args
	// ReservedSpace is what prune never goes below (the CLI's
	// --keep-storage / --reserved-space), MaxUsedSpace and MinFreeSpace
	// what it prunes down to.
	ReservedSpace, MaxUsedSpace, MinFreeSpace int64
}

// recordFields are the cache-record filters dockerd passes on to BuildKit;
// "until" and its old name "unused-for" become the keep duration.
var recordFields = []string{"description", "id", "inuse", "parent", "private", "shared", "type"}

// pruneRequest turns the Engine API's prune into BuildKit's.
func pruneRequest(opts PruneOptions, now time.Time) (*controlapi.PruneRequest, error) {
	accepted := map[string]bool{"until": true, "unused-for": true, "label": true, "label!": true}
	for _, f := range recordFields {
		accepted[f] = true
	}
	if err := opts.Filters.Validate(accepted); err != nil {
		return nil, err
	}
	until, unusedFor := opts.Filters.Get("until"), opts.Filters.Get("unused-for")
	if len(until) > 0 && len(unusedFor) > 0 {
		return nil, errdefs.InvalidParameterf("conflicting filters: %q and %q", "until", "unused-for")
	}
	key := "until"
	if len(unusedFor) > 0 {
		key, until = "unused-for", unusedFor
	}
	var keep time.Duration
	switch len(until) {
	case 0:
	case 1:
		t, err := pruneTime(until[0], now)
		if err != nil {
			return nil, errdefs.InvalidParameterf("%q filter expects a duration (e.g., '24h') or a timestamp: %v", key, err)
		}
		keep = now.Sub(t)
	default:
		return nil, errdefs.InvalidParameterf("filters expect only one value")
	}
	var match []string
	for _, f := range recordFields {
		if !opts.Filters.Contains(f) {
			continue
		}
		switch v := opts.Filters.Get(f); len(v) {
		case 0:
			match = append(match, f)
		case 1:
			// An ID matches by prefix, as docker's short IDs do.
			op := "=="
			if f == "id" {
				op = "~="
			}
			match = append(match, f+op+v[0])
		default:
			return nil, errdefs.InvalidParameterf("filters expect only one value")
		}
	}
	return &controlapi.PruneRequest{
		All:           opts.All,
		KeepDuration:  int64(keep),
		ReservedSpace: opts.ReservedSpace,
		MaxUsedSpace:  opts.MaxUsedSpace,
		MinFreeSpace:  opts.MinFreeSpace,
		Filter:        []string{strings.Join(match, ",")},
	}, nil
}

// pruneTime reads "until" as the CLI sends it: a duration ago, a date or a
// unix timestamp.
func pruneTime(v string, now time.Time) (time.Time, error) {
	ts, err := timestamp.FromHuman(v, now)
	if err != nil {
		return time.Time{}, err
	}
	return timestamp.ParseTime(ts)
}

// Prune removes cache records as POST /build/prune asks and returns the
// space given back and the removed records' IDs.
func (b *Builder) Prune(ctx context.Context, opts PruneOptions) (int64, []string, error) {
	req, err := pruneRequest(opts, time.Now())
	if err != nil {
		return 0, nil, err
	}
	if !b.hasState() {
		return 0, nil, nil
	}
	rt, err := b.start(ctx)
	if err != nil {
		return 0, nil, err
	}
	stream := &pruneStream{ctx: ctx}
	if err := rt.controller.Prune(req, stream); err != nil {
		return 0, nil, fmt.Errorf("prune build cache: %w", err)
	}
	return stream.size, stream.ids, nil
}

// pruneStream collects what the controller's Prune streams back; Prune
// uses only Context and Send of its server stream.
type pruneStream struct {
	grpc.ServerStream
	ctx  context.Context
	size int64
	ids  []string
}

func (s *pruneStream) Context() context.Context { return s.ctx }

func (s *pruneStream) Send(r *controlapi.UsageRecord) error {
	s.size += r.Size
	s.ids = append(s.ids, r.ID)
	return nil
}

// DiskUsage lists the build cache for GET /system/df and sums it as dockerd
// does: a record neither in use nor shared is reclaimable. No records is a
// nil list, which API versions before 1.52 send as null, as dockerd does.
func (b *Builder) DiskUsage(ctx context.Context) (*build.DiskUsage, []build.CacheRecord, error) {
	usage := &build.DiskUsage{}
	if !b.hasState() {
		return usage, nil, nil
	}
	rt, err := b.start(ctx)
	if err != nil {
		return nil, nil, err
	}
	resp, err := rt.controller.DiskUsage(ctx, &controlapi.DiskUsageRequest{})
	if err != nil {
		return nil, nil, fmt.Errorf("build cache usage: %w", err)
	}
	var records []build.CacheRecord
	for _, r := range resp.Record {
		usage.TotalCount++
		usage.TotalSize += r.Size
		if r.InUse {
			usage.ActiveCount++
		}
		if !r.InUse && !r.Shared {
			usage.Reclaimable += r.Size
		}
		rec := build.CacheRecord{
			ID:          r.ID,
			Parents:     r.Parents,
			Type:        r.RecordType,
			Description: r.Description,
			InUse:       r.InUse,
			Shared:      r.Shared,
			Size:        r.Size,
			UsageCount:  int(r.UsageCount),
		}
		if r.CreatedAt != nil {
			rec.CreatedAt = r.CreatedAt.AsTime()
		}
		if r.LastUsedAt != nil {
			t := r.LastUsedAt.AsTime()
			rec.LastUsedAt = &t
		}
		records = append(records, rec)
	}
	sort.Slice(records, func(i, j int) bool { return records[i].CreatedAt.Before(records[j].CreatedAt) })
	return usage, records, nil
}
