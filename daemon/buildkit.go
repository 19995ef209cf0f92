package daemon

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	bkexecutor "github.com/moby/buildkit/executor"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/source"
	resolverconfig "github.com/moby/buildkit/util/resolver/config"
	buildtypes "github.com/moby/moby/api/types/build"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/image/buildkit"
	"github.com/berthd/berth/image/buildkit/executor"
	"github.com/berthd/berth/image/buildkit/imagesource"
	"github.com/berthd/berth/image/buildkit/mobyexporter"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

// newBuildKit prepares the embedded BuildKit when "features" leaves it on;
// nothing of it starts until the first build or cache query.
func (d *Daemon) newBuildKit(cfg *config.Config) (*buildkit.Builder, error) {
	if !cfg.BuildKitEnabled() {
		return nil, nil
	}
	root := filepath.Join(cfg.DataRoot, "buildkit")
	images := d.buildkitImages()
	gc, err := buildGC(cfg.Builder.GC)
	if err != nil {
		return nil, err
	}
	return buildkit.New(buildkit.Options{
		Root: root,
		NewExecutor: func() (bkexecutor.Executor, error) {
			return executor.New(d.buildExecutorOptions(filepath.Join(root, "executor")))
		},
		// FROM reads berth's image store first and pulls through berth's
		// puller; -t / --load write into it.
		ImageSource: func(p buildkit.Parts) (source.Source, error) {
			return imagesource.New(imagesource.Opt{Images: images, CacheAccessor: p.CacheManager})
		},
		MobyExporter: func(p buildkit.Parts) (exporter.Exporter, error) {
			return mobyexporter.New(mobyexporter.Opt{Images: images, ContentStore: p.ContentStore, LeaseManager: p.LeaseManager, SessionManager: p.SessionManager})
		},
		Registries:   buildRegistries(cfg),
		GC:           gc,
		Entitlements: buildEntitlements(cfg.Builder.Entitlements),
	})
}

// buildGC is daemon.json's builder.gc as BuildKit's worker runs it.
func buildGC(c config.BuilderGC) (buildkit.GC, error) {
	if !c.GCEnabled() {
		return buildkit.GC{Disabled: true}, nil
	}
	def, err := c.DefaultSpaces()
	if err != nil {
		return buildkit.GC{}, err
	}
	gc := buildkit.GC{ReservedSpace: def.Reserved, MaxUsedSpace: def.MaxUsed, MinFreeSpace: def.MinFree}
	for _, r := range c.Policy {
		s, err := r.Spaces()
		if err != nil {
			return buildkit.GC{}, err
		}
		gc.Rules = append(gc.Rules, buildkit.PruneOptions{
			All:           r.All,
			Filters:       filters.NewArgs(r.FilterPairs()...),
			ReservedSpace: s.Reserved,
			MaxUsedSpace:  s.MaxUsed,
			MinFreeSpace:  s.MinFree,
		})
	}
	return gc, nil
}

// buildEntitlements are what builds may be granted: network.host unless
// turned off, security.insecure only when turned on, as with dockerd.
func buildEntitlements(e config.BuilderEntitlements) []string {
	ents := []string{}
	if config.BoolOr(e.NetworkHost, true) {
		ents = append(ents, "network.host")
	}
	if config.BoolOr(e.SecurityInsecure, false) {
		ents = append(ents, "security.insecure")
	}
	return ents
}

// buildRegistries passes the daemon's registry settings on to BuildKit's
// resolver: docker.io's mirrors, and plain HTTP for insecure registries.
func buildRegistries(cfg *config.Config) map[string]resolverconfig.RegistryConfig {
	m := map[string]resolverconfig.RegistryConfig{}
	var mirrors []string
	for _, u := range cfg.RegistryMirrors {
		if p, err := url.Parse(u); err == nil && p.Host != "" {
			mirrors = append(mirrors, p.Host+strings.TrimSuffix(p.Path, "/"))
		}
	}
	if len(mirrors) > 0 {
		m["docker.io"] = resolverconfig.RegistryConfig{Mirrors: mirrors}
	}
	yes := true
	for _, r := range cfg.InsecureRegistries {
		if strings.Contains(r, "/") { // a CIDR: BuildKit matches hosts only
			continue
		}
		c := m[r]
		c.PlainHTTP, c.Insecure = &yes, &yes
		m[r] = c
	}
	return m
}

// errNoBuildKit answers /grpc and /session when BuildKit is off: buildx
// then gives up on the engine's builder, as with a daemon without one.
var errNoBuildKit = errdefs.NotFound(errors.New("BuildKit is disabled on this daemon (features.buildkit=false)"))

// BuildKitHandler serves POST /grpc.
func (d *Daemon) BuildKitHandler(ctx context.Context) (http.Handler, error) {
	if d.buildkit == nil {
		return nil, errNoBuildKit
	}
	return d.buildkit.Handler(ctx)
}

// BuildKitSession serves POST /session.
func (d *Daemon) BuildKitSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if d.buildkit == nil {
		return errNoBuildKit
	}
	return d.buildkit.HandleSession(ctx, w, r)
}

// BuilderVersion is /_ping's Builder-Version: "2" when BuildKit serves
// builds, "1" (the classic builder) otherwise.
func (d *Daemon) BuilderVersion() string {
	if d.buildkit == nil {
		return "1"
	}
	return "2"
}

// BuildCachePrune answers POST /build/prune: BuildKit's cache records as
// opts select, and the classic builder's index entries whose step image is
// gone (its cache is the step images themselves, which only image removal
// frees).
func (d *Daemon) BuildCachePrune(ctx context.Context, opts backend.BuildCachePruneOptions) (*buildtypes.CachePruneReport, error) {
	rep := &buildtypes.CachePruneReport{}
	if d.buildkit != nil {
		size, ids, err := d.buildkit.Prune(ctx, buildkit.PruneOptions{
			All:           opts.All,
			Filters:       opts.Filters,
			ReservedSpace: opts.ReservedSpace,
			MaxUsedSpace:  opts.MaxUsedSpace,
			MinFreeSpace:  opts.MinFreeSpace,
		})
		if err != nil {
			return nil, err
		}
		rep.SpaceReclaimed, rep.CachesDeleted = uint64(size), ids
	}
	d.buildCache().Tidy(func(id string) bool {
		_, err := d.images.Get(id)
		return err == nil
	})
	return rep, nil
}

// buildCacheUsage is /system/df's build cache: BuildKit's records, none
// when it is off.
func (d *Daemon) buildCacheUsage(ctx context.Context) (*buildtypes.DiskUsage, []*buildtypes.CacheRecord, error) {
	if d.buildkit == nil {
		return &buildtypes.DiskUsage{}, nil, nil
	}
	usage, recs, err := d.buildkit.DiskUsage(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []*buildtypes.CacheRecord
	for i := range recs {
		out = append(out, &recs[i])
	}
	return usage, out, nil
}
