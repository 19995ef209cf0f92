package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	volumetypes "github.com/moby/moby/api/types/volume"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/faultpoint"
	"github.com/berthd/berth/pkg/filters"
	"github.com/berthd/berth/volume"
	"github.com/berthd/berth/volume/plugin"
)

// AcceptedListFilters are the filters GET /volumes takes.
var AcceptedListFilters = map[string]bool{"dangling": true, "driver": true, "label": true, "name": true}

// AcceptedPruneFilters are the filters POST /volumes/prune takes.
var AcceptedPruneFilters = map[string]bool{"label": true, "label!": true, "all": true}

// listTimeout bounds how long one plugin may take to list its volumes,
// so that a hung plugin costs `volume ls` a warning, not the answer.
const listTimeout = 10 * time.Second

type found struct {
	v volume.Volume
	r *record
}

// all collects every volume of every driver: local, the plugins that have
// volumes recorded, and the plugins the discovery directories offer. A
// driver that fails is a warning, and its recorded volumes are listed
// from the records, as dockerd does.
func (s *Service) all(ctx context.Context, drivers []string) ([]found, []string) {
	want := func(d string) bool { return len(drivers) == 0 || slices.Contains(drivers, d) }

	s.mu.Lock()
	records := make(map[string]*record, len(s.records))
	for k, r := range s.records {
		records[k] = r
	}
	s.mu.Unlock()

	var out []found
	var warnings []string
	seen := map[string]bool{}
	if want(volume.DefaultDriverName) {
		vs, _ := s.local.List(ctx)
		for _, v := range vs {
			r := records[v.Name()]
			if r == nil {
				r = &record{Name: v.Name(), Driver: volume.DefaultDriverName}
			} else if r.Driver != volume.DefaultDriverName {
				continue
			}
			seen[v.Name()] = true
			out = append(out, found{v, r})
		}
	}

	names := map[string]bool{}
	for _, r := range records {
		if r.Driver != volume.DefaultDriverName {
			names[r.Driver] = true
		}
	}
	for _, n := range s.plugins.Scan() {
		names[n] = true
	}
	delete(names, volume.DefaultDriverName)

	type result struct {
		driver string
		vols   []volume.Volume
		err    error
	}
	var wg sync.WaitGroup
	results := make(chan result, len(names))
	for n := range names {
		if !want(n) {
			continue
		}
		wg.Add(1)
		go func(n string) {
			defer wg.Done()
			lctx, cancel := context.WithTimeout(ctx, listTimeout)
			defer cancel()
			d, err := s.driver(lctx, n)
			if err != nil {
				// A socket that is not a volume plugin is not an error
				// of `volume ls`, unless berth has volumes recorded there.
				if errdefs.Is(err, errdefs.InvalidParameter) {
					err = nil
				}
				results <- result{driver: n, err: err}
				return
			}
			vs, err := d.List(lctx)
			results <- result{driver: n, vols: vs, err: err}
		}(n)
	}
	wg.Wait()
	close(results)
	var res []result
	for r := range results {
		res = append(res, r)
	}
	slices.SortFunc(res, func(a, b result) int { return strings.Compare(a.driver, b.driver) })
	for _, r := range res {
		if r.err != nil {
			hasRecords := false
			for _, rec := range records {
				if rec.Driver == r.driver {
					hasRecords = true
					if !seen[rec.Name] {
						seen[rec.Name] = true
						out = append(out, found{&unreachable{rec}, rec})
					}
				}
			}
			if hasRecords {
				warnings = append(warnings, opErr("list", r.driver, r.err).Error())
			} else {
				logrus.WithError(r.err).WithField("plugin", r.driver).Debug("volume plugin not listed")
			}
			continue
		}
		for _, v := range r.vols {
			rec := records[v.Name()]
			if rec != nil && rec.Driver != r.driver {
				// The name belongs to the driver berth created it with.
				logrus.WithField("volume", v.Name()).WithField("driver", r.driver).Warn("volume name already exists for another driver; not listing it")
				continue
			}
			if seen[v.Name()] {
				continue
			}
			if rec == nil {
				rec = &record{Name: v.Name(), Driver: r.driver}
			}
			seen[v.Name()] = true
			out = append(out, found{v, rec})
		}
	}
	return out, warnings
}

// unreachable stands in for a recorded volume whose plugin is not
// answering, so that `volume ls` still shows it.
type unreachable struct{ r *record }

func (u *unreachable) Name() string                                  { return u.r.Name }
func (u *unreachable) DriverName() string                            { return u.r.Driver }
func (u *unreachable) Path() string                                  { return "" }
func (u *unreachable) CreatedAt() time.Time                          { return u.r.CreatedAt }
func (u *unreachable) Status() map[string]any                        { return nil }
func (u *unreachable) Mount(context.Context, string) (string, error) { return "", errUnreachable }
func (u *unreachable) Unmount(context.Context, string) error         { return errUnreachable }

var errUnreachable = errdefs.Unavailable(fmt.Errorf("volume plugin is not reachable"))

// List returns the volumes the filters select (dangling, driver, label,
// name), and warnings for drivers that could not be listed.
func (s *Service) List(ctx context.Context, args filters.Args) ([]volumetypes.Volume, []string, error) {
	if err := args.Validate(AcceptedListFilters); err != nil {
		return nil, nil, err
	}
	var dangling *bool
	if args.Contains("dangling") {
		b, err := args.GetBoolOrDefault("dangling", false)
		if err != nil {
			return nil, nil, err
		}
		dangling = &b
	}
	vols, warnings := s.all(ctx, args.Get("driver"))
	out := make([]volumetypes.Volume, 0, len(vols))
	for _, f := range vols {
		if !args.Match("name", f.v.Name()) || !matchLabels(args, f.r.Labels) {
			continue
		}
		if dangling != nil && (s.InUse(f.v.Name()) == nil) != *dangling {
			continue
		}
		out = append(out, *s.toAPI(ctx, f.v, f.r))
	}
	slices.SortFunc(out, func(a, b volumetypes.Volume) int { return strings.Compare(a.Name, b.Name) })
	return out, warnings, nil
}

func matchLabels(args filters.Args, labels map[string]string) bool {
	if !args.MatchKVList("label", labels) {
		return false
	}
	if args.Contains("label!") && len(args.Get("label!")) > 0 && args.MatchKVList("label!", labels) {
		return false
	}
	return true
}

// Prune removes the unused local volumes the filters select. Unless the
// `all` filter is true only anonymous volumes go (API 1.42 and later; the
// router adds all=true for older clients).
func (s *Service) Prune(ctx context.Context, args filters.Args) (*volumetypes.PruneReport, error) {
	if !s.pruning.TryLock() {
		return nil, errdefs.Conflictf("a prune operation is already running")
	}
	defer s.pruning.Unlock()
	if err := args.Validate(AcceptedPruneFilters); err != nil {
		return nil, err
	}
	all := args.Get("all")
	pruneAll := false
	switch {
	case len(all) > 1:
		return nil, errdefs.InvalidParameterf("invalid filter 'all=%s': only one value is expected", all)
	case len(all) == 1:
		b, err := strconv.ParseBool(all[0])
		if err != nil {
			return nil, errdefs.InvalidParameterf("invalid filter 'all': %w", err)
		}
		pruneAll = b
	}

	rep := &volumetypes.PruneReport{}
	vols, _ := s.all(ctx, []string{volume.DefaultDriverName})
	for _, f := range vols {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		name := f.v.Name()
		if !pruneAll {
			if _, anon := f.r.Labels[volume.AnonymousLabel]; !anon {
				continue
			}
		}
		if !matchLabels(args, f.r.Labels) {
			continue
		}
		unlock := s.locks.lock(name)
		if s.InUse(name) != nil {
			unlock()
			continue
		}
		var size int64
		if sz, ok := f.v.(volume.Sizer); ok {
			size, _ = sz.Size(ctx)
		}
		err := s.removeLocked(ctx, name, false)
		unlock()
		if err != nil {
			logrus.WithError(err).WithField("volume", name).Warn("could not prune volume")
			continue
		}
		rep.VolumesDeleted = append(rep.VolumesDeleted, name)
		faultpoint.Hit("volume.prune.after-one")
		if size > 0 {
			rep.SpaceReclaimed += uint64(size)
		}
	}
	return rep, nil
}

// LocalVolumesSize returns every local volume with its disk use and
// reference count, for `system df`.
func (s *Service) LocalVolumesSize(ctx context.Context) ([]*volumetypes.Volume, error) {
	vols, _ := s.all(ctx, []string{volume.DefaultDriverName})
	out := make([]*volumetypes.Volume, 0, len(vols))
	for _, f := range vols {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v := s.toAPI(ctx, f.v, f.r)
		size := int64(-1)
		if sz, ok := f.v.(volume.Sizer); ok {
			if n, err := sz.Size(ctx); err == nil {
				size = n
			} else {
				logrus.WithError(err).WithField("volume", v.Name).Warn("cannot measure volume")
			}
		}
		v.UsageData = &volumetypes.UsageData{Size: size, RefCount: int64(len(s.InUse(v.Name)))}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *volumetypes.Volume) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

var _ volume.Driver = (*plugin.Driver)(nil)
