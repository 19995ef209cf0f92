package buildkit

import (
	"testing"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

func TestPruneRequestFromEngineFilters(t *testing.T) {
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	f := filters.NewArgs([2]string{"until", "24h"}, [2]string{"id", "abc"}, [2]string{"type", "regular"})
	req, err := pruneRequest(PruneOptions{All: true, Filters: f, ReservedSpace: 5e9}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !req.All || req.ReservedSpace != 5e9 {
		t.Errorf("all/reserved lost: %+v", req)
	}
	if time.Duration(req.KeepDuration) != 24*time.Hour {
		t.Errorf("keep duration %v, want 24h", time.Duration(req.KeepDuration))
	}
	// IDs match by prefix, other fields exactly, in one AND-ed filter.
	if len(req.Filter) != 1 || req.Filter[0] != "id~=abc,type==regular" {
		t.Errorf("filter %q", req.Filter)
	}
}

func TestPruneRequestRefusesBadFilters(t *testing.T) {
	for name, f := range map[string]filters.Args{
		"unknown":       filters.NewArgs([2]string{"dangling", "true"}),
		"both untils":   filters.NewArgs([2]string{"until", "1h"}, [2]string{"unused-for", "1h"}),
		"bad duration":  filters.NewArgs([2]string{"until", "soon"}),
		"two ID values": filters.NewArgs([2]string{"id", "a"}, [2]string{"id", "b"}),
	} {
		_, err := pruneRequest(PruneOptions{Filters: f}, time.Now())
		if !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%s: err %v, want an invalid-parameter error", name, err)
		}
	}
}

func TestPruneWithoutStateDoesNotStartBuildKit(t *testing.T) {
	b, err := New(Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	n, ids, err := b.Prune(t.Context(), PruneOptions{All: true})
	if err != nil || n != 0 || ids != nil {
		t.Fatalf("prune of nothing: %d %v %v", n, ids, err)
	}
	du, recs, err := b.DiskUsage(t.Context())
	if err != nil || du.TotalCount != 0 || recs != nil {
		t.Fatalf("usage of nothing: %+v %v %v", du, recs, err)
	}
	if b.started != nil {
		t.Fatal("prune/df started BuildKit on a daemon that never built")
	}
}

func TestDefaultGCPolicyKeepsTheCacheCapped(t *testing.T) {
	p, err := GC{}.policy(t.TempDir())
	if err != nil || len(p) != 4 {
		t.Fatalf("%d policies (%v), want dockerd's four", len(p), err)
	}
	if p[0].KeepDuration != 48*time.Hour || len(p[0].Filter) != 3 || p[0].MaxUsedSpace < 512e6 {
		t.Errorf("first policy should drop old local contexts and cache mounts: %+v", p[0])
	}
	if !p[3].All || p[3].MaxUsedSpace == 0 || p[3].ReservedSpace == 0 {
		t.Errorf("last policy should cap everything, sized from the disk: %+v", p[3])
	}
}

func TestGCPolicyFromConfiguredSizesAndRules(t *testing.T) {
	p, _ := GC{ReservedSpace: 10e9}.policy(t.TempDir())
	if p[0].MaxUsedSpace < 1.38e9 || p[0].MaxUsedSpace > 1.39e9 {
		t.Errorf("temporary data cap %d, want about 13.8%% of the reserved 10 GB", p[0].MaxUsedSpace)
	}
	if p[1].ReservedSpace != 10e9 || p[1].MaxUsedSpace != 0 || p[1].KeepDuration != 60*24*time.Hour {
		t.Errorf("60-day rule %+v", p[1])
	}
	rules := []PruneOptions{
		{Filters: filters.NewArgs([2]string{"unused-for", "2200h"}), ReservedSpace: 10 << 30},
		{All: true, ReservedSpace: 50 << 30},
	}
	p, err := GC{Rules: rules}.policy(t.TempDir())
	if err != nil || len(p) != 2 {
		t.Fatalf("rules: %v %v", p, err)
	}
	if p[0].KeepDuration < 2199*time.Hour || p[0].KeepDuration > 2201*time.Hour || p[0].ReservedSpace != 10<<30 || !p[1].All {
		t.Errorf("rules became %+v", p)
	}
	if p, err := (GC{Disabled: true}).policy(t.TempDir()); err != nil || p != nil {
		t.Errorf("disabled GC has a policy: %v %v", p, err)
	}
	if _, err := (GC{Rules: []PruneOptions{{Filters: filters.NewArgs([2]string{"dangling", "true"})}}}).policy(t.TempDir()); err == nil {
		t.Error("a rule with an unknown filter was taken")
	}
}
