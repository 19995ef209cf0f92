package image

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/image/layer"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
	"github.com/berthd/berth/pkg/timestamp"
)

// ListFilters are the filters GET /images/json accepts.
var ListFilters = map[string]bool{"dangling": true, "label": true, "before": true, "since": true, "reference": true, "until": true}

// PruneFilters are the filters POST /images/prune accepts.
var PruneFilters = map[string]bool{"dangling": true, "label": true, "label!": true, "until": true}

// ListOptions are GET /images/json's query options.
type ListOptions struct {
	All        bool
	SharedSize bool
	// ContainerCount fills Summary.Containers (system df); otherwise -1.
	ContainerCount bool
	Filters        filters.Args
}

func untilTime(v string) (time.Time, error) {
	ts, err := timestamp.FromHuman(v, time.Now())
	if err != nil {
		return time.Time{}, errdefs.InvalidParameter(err)
	}
	return timestamp.ParseTime(ts)
}

// List answers GET /images/json, newest first.
func (s *Service) List(opts ListOptions) ([]*imagetypes.Summary, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	f := opts.Filters
	if err := f.Validate(ListFilters); err != nil {
		return nil, err
	}
	danglingOnly := false
	if f.Contains("dangling") {
		v, err := f.GetBoolOrDefault("dangling", false)
		if err != nil {
			return nil, err
		}
		danglingOnly = v
	}
	var before, since, until time.Time
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"before", &before}, {"since", &since}} {
		for _, v := range f.Get(b.name) {
			img, err := s.Get(v)
			if err != nil {
				return nil, err
			}
			*b.dst = img.Created()
		}
	}
	for _, v := range f.Get("until") {
		t, err := untilTime(v)
		if err != nil {
			return nil, err
		}
		// Several untils: the earliest wins, as in dockerd.
		if until.IsZero() || t.Before(until) {
			until = t
		}
	}

	snap := map[digest.Digest][]Usage{}
	if opts.ContainerCount {
		snap = s.usageSnapshot()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	allRefs := s.refs.All()
	layerUse := map[digest.Digest]int{}
	stacks := map[digest.Digest][]layer.Layer{}
	for id, img := range s.images {
		if img.TopChain == "" {
			continue
		}
		st, _ := s.layers.Stack(img.TopChain)
		stacks[id] = st
		for _, l := range st {
			layerUse[l.ChainID]++
		}
	}
	var out []*imagetypes.Summary
	for id, img := range s.images {
		created := img.Created()
		if !before.IsZero() && !created.Before(before) {
			continue
		}
		if !since.IsZero() && !created.After(since) {
			continue
		}
		if !until.IsZero() && !created.Before(until) {
			continue
		}
		if !f.MatchKVList("label", img.Labels()) {
			continue
		}
		refs := allRefs[id]
		if f.Contains("dangling") && danglingOnly != (len(refs) == 0) {
			continue
		}
		sum := &imagetypes.Summary{
			ID:          id.String(),
			ParentID:    img.Parent.String(),
			Created:     created.Unix(),
			Labels:      img.Labels(),
			Containers:  -1,
			SharedSize:  -1,
			RepoTags:    []string{},
			RepoDigests: []string{},
		}
		for _, r := range refs {
			if f.Contains("reference") {
				match := false
				for _, pat := range f.Get("reference") {
					if ok, err := referenceMatch(pat, r); err != nil {
						return nil, err
					} else if ok {
						match = true
					}
				}
				if !match {
					continue
				}
			}
			if _, ok := r.(reference.Canonical); ok {
				sum.RepoDigests = append(sum.RepoDigests, reference.FamiliarString(r))
			} else {
				sum.RepoTags = append(sum.RepoTags, reference.FamiliarString(r))
			}
		}
		if len(sum.RepoTags) == 0 && len(sum.RepoDigests) == 0 {
			if f.Contains("reference") {
				continue
			}
			// Intermediate images (built layers with children) only with all.
			if !opts.All && len(s.childrenLocked(id)) > 0 {
				continue
			}
		}
		var shared int64
		for _, l := range stacks[id] {
			sum.Size += l.Size
			if layerUse[l.ChainID] > 1 {
				shared += l.Size
			}
		}
		if opts.SharedSize {
			sum.SharedSize = shared
		}
		if opts.ContainerCount {
			sum.Containers = int64(len(asImage(snap[id])))
		}
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Created != out[j].Created {
			return out[i].Created > out[j].Created
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// LayersSize is the disk use of every stored layer (system df).
func (s *Service) LayersSize() int64 {
	if s.ready() != nil {
		return 0
	}
	var n int64
	for _, l := range s.layers.All() {
		n += l.Size
	}
	return n
}

// InspectLegacy are the inspect fields the current API types dropped but
// API versions before 1.52 still return (dockerd fills them when set).
type InspectLegacy struct {
	Parent        string
	DockerVersion string
}

// Inspect answers GET /images/{name}/json.
func (s *Service) Inspect(refOrID string) (*imagetypes.InspectResponse, InspectLegacy, error) {
	img, err := s.Get(refOrID)
	if err != nil {
		return nil, InspectLegacy{}, err
	}
	legacy := InspectLegacy{Parent: string(img.Parent), DockerVersion: img.Config.DockerVersion}
	tags, digests := s.RepoTagsDigests(img.ID)
	c := img.Config
	resp := &imagetypes.InspectResponse{
		ID:           img.ID.String(),
		RepoTags:     tags,
		RepoDigests:  digests,
		Comment:      c.Comment,
		Author:       c.Author,
		Config:       &c.Config,
		Architecture: c.Architecture,
		Variant:      c.Variant,
		Os:           c.OS,
		OsVersion:    c.OSVersion,
		Size:         s.Size(img),
		RootFS:       imagetypes.RootFS{Type: "layers"},
		Metadata:     imagetypes.Metadata{LastTagTime: img.LastTagTime},
	}
	if c.Created != nil {
		resp.Created = c.Created.UTC().Format(time.RFC3339Nano)
	}
	for _, d := range img.DiffIDs {
		resp.RootFS.Layers = append(resp.RootFS.Layers, d.String())
	}
	if img.TopChain != "" {
		if dirs, err := s.layers.DiffDirs(img.TopChain); err == nil {
			top := filepath.Dir(dirs[0])
			data := map[string]string{
				"MergedDir": filepath.Join(top, "merged"),
				"UpperDir":  dirs[0],
				"WorkDir":   filepath.Join(top, "work"),
			}
			if len(dirs) > 1 {
				data["LowerDir"] = strings.Join(dirs[1:], ":")
			}
			resp.GraphDriver = &storage.DriverData{Name: "overlay2", Data: data}
		}
	}
	return resp, legacy, nil
}

// History answers GET /images/{name}/history, newest first.
func (s *Service) History(refOrID string) ([]*imagetypes.HistoryResponseItem, error) {
	img, err := s.Get(refOrID)
	if err != nil {
		return nil, err
	}
	var out []*imagetypes.HistoryResponseItem
	layerIdx := 0
	var diffs []digest.Digest
	for _, h := range img.Config.History {
		var size int64
		if !h.EmptyLayer {
			if layerIdx >= len(img.DiffIDs) {
				return nil, errdefs.System(fmt.Errorf("too many non-empty layers in History section"))
			}
			diffs = append(diffs, img.DiffIDs[layerIdx])
			layerIdx++
			if l, ok := s.layers.Get(layer.ChainID(diffs)); ok {
				size = l.Size
			}
		}
		item := &imagetypes.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Size: size, Tags: nil}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		out = append([]*imagetypes.HistoryResponseItem{item}, out...)
	}
	cur := img
	for _, item := range out {
		item.ID = cur.ID.String()
		var tags []string
		for _, r := range s.References(cur.ID) {
			if _, ok := r.(reference.NamedTagged); ok {
				tags = append(tags, reference.FamiliarString(r))
			}
		}
		item.Tags = tags
		if cur.Parent == "" {
			break
		}
		s.mu.RLock()
		cur = s.images[cur.Parent]
		s.mu.RUnlock()
		if cur == nil {
			break
		}
	}
	return out, nil
}

// Prune answers POST /images/prune.
func (s *Service) Prune(f filters.Args) (*imagetypes.PruneReport, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if err := f.Validate(PruneFilters); err != nil {
		return nil, err
	}
	danglingOnly, err := f.GetBoolOrDefault("dangling", true)
	if err != nil {
		return nil, err
	}
	var until time.Time
	for _, v := range f.Get("until") {
		if until, err = untilTime(v); err != nil {
			return nil, err
		}
	}
	snap := s.usageSnapshot()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = snap
	sizes := map[digest.Digest]int64{}
	for _, l := range s.layers.All() {
		sizes[l.ChainID] = l.Size
	}
	var candidates []*Image
	for id, img := range s.images {
		if !until.IsZero() && !img.Created().Before(until) {
			continue
		}
		if !f.MatchKVList("label", img.Labels()) {
			continue
		}
		if f.Contains("label!") && !matchNegLabels(f.Get("label!"), img.Labels()) {
			continue
		}
		if danglingOnly {
			if len(s.refs.References(id)) > 0 || len(s.childrenLocked(id)) > 0 {
				continue
			}
		} else if len(s.usedBy(id)) > 0 {
			continue
		}
		candidates = append(candidates, img)
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].ID < candidates[j].ID })
	rep := &imagetypes.PruneReport{ImagesDeleted: []imagetypes.DeleteResponse{}}
	for _, img := range candidates {
		if s.images[img.ID] == nil {
			continue // removed as a parent of an earlier one
		}
		var recs []imagetypes.DeleteResponse
		refs := s.refs.References(img.ID)
		if len(refs) > 0 {
			for _, r := range refs {
				d, err := s.deleteLocked(r.String(), false, true)
				if err != nil {
					break
				}
				recs = append(recs, d...)
			}
		} else {
			d, err := s.deleteLocked(img.ID.Encoded(), false, true)
			if err != nil {
				continue
			}
			recs = d
		}
		for _, r := range recs {
			if r.Deleted != "" {
				rep.SpaceReclaimed += uint64(sizes[digest.Digest(r.Deleted)])
			}
		}
		rep.ImagesDeleted = append(rep.ImagesDeleted, recs...)
	}
	if s.events != nil {
		s.events(events.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)})
	}
	return rep, nil
}

// matchNegLabels is the label! filter: the image must carry none of them.
func matchNegLabels(vals []string, labels map[string]string) bool {
	for _, v := range vals {
		k, want, hasValue := strings.Cut(v, "=")
		got, has := labels[k]
		if has && (!hasValue || got == want) {
			return false
		}
	}
	return true
}

// referenceMatch matches a reference filter the way dockerd does: the
// pattern against the familiar and the canonical forms, with and without
// the tag, so "utest", "docker.io/library/utest" and
// "docker.io/library/utest:*" all find utest:latest.
func referenceMatch(pattern string, r reference.Named) (bool, error) {
	for _, target := range []string{
		reference.FamiliarString(r),
		reference.FamiliarName(r),
		reference.TagNameOnly(r).String(),
		r.Name(),
	} {
		ok, err := path.Match(pattern, target)
		if err != nil {
			return false, errdefs.InvalidParameter(err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}
