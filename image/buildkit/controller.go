package buildkit

import (
	"context"
	"errors"
	"path/filepath"
	"sync"

	"github.com/moby/buildkit/cache/remotecache"
	inlineremotecache "github.com/moby/buildkit/cache/remotecache/inline"
	localremotecache "github.com/moby/buildkit/cache/remotecache/local"
	registryremotecache "github.com/moby/buildkit/cache/remotecache/registry"
	"github.com/moby/buildkit/control"
	"github.com/moby/buildkit/frontend"
	dockerfile "github.com/moby/buildkit/frontend/dockerfile/builder"
	"github.com/moby/buildkit/frontend/gateway"
	"github.com/moby/buildkit/frontend/gateway/forwarder"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/solver/bboltcachestorage"
	"github.com/moby/buildkit/util/db/boltutil"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/util/resolver"
	"github.com/moby/buildkit/util/tracing"
	"github.com/moby/buildkit/util/tracing/detect"
	bkworker "github.com/moby/buildkit/worker"
	"github.com/moby/buildkit/worker/base"
	bolt "go.etcd.io/bbolt"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// maxMsgSize is containerd's default gRPC message cap, which BuildKit's
// clients expect of the daemon's /grpc.
const maxMsgSize = 16 << 20

// traceRecorder is BuildKit's recorder of build traces. BuildKit reads it
// from a package variable, as dockerd sets it; set once, when BuildKit
// first starts, since its collector runs for good.
var traceRecorder = sync.OnceValue(func() *detect.TraceRecorder {
	detect.Recorder = detect.NewTraceRecorder()
	return detect.Recorder
})

// tracer makes the spans of BuildKit's requests, recorded only.
var tracer = sync.OnceValue(func() trace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithSyncer(traceRecorder()))
})

// startLocked opens the storage, builds the worker and the controller and
// a gRPC server that serves them. b.mu is held.
func (b *Builder) startLocked(ctx context.Context) (_ *running, retErr error) {
	root := b.opts.Root
	st, err := openStorage(ctx, filepath.Join(root, "worker"))
	if err != nil {
		return nil, err
	}
	var closers []func() error
	closers = append(closers, st.closer)
	defer func() {
		if retErr != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()

	w, err := b.newWorker(ctx, st)
	if err != nil {
		return nil, err
	}
	wc := &bkworker.Controller{}
	if err := wc.Add(w); err != nil {
		return nil, err
	}

	gwf, err := gateway.NewGatewayFrontend(wc.Infos(), nil)
	if err != nil {
		return nil, err
	}
	frontends := map[string]frontend.Frontend{
		"dockerfile.v0": forwarder.NewGatewayForwarder(wc.Infos(), dockerfile.Build),
		"gateway.v0":    gwf,
	}

	cacheStorage, err := bboltcachestorage.NewStore(filepath.Join(root, "cache.db"))
	if err != nil {
		return nil, err
	}
	closers = append(closers, cacheStorage.Close)
	historyDB, err := boltutil.SafeOpen(filepath.Join(root, "history.db"), 0o600, &bolt.Options{
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, historyDB.Close)

	hosts := st.opt.RegistryHosts
	sm := b.sessions
	ctrl, err := control.NewController(control.Opt{
		SessionManager:   sm,
		WorkerController: wc,
		Frontends:        frontends,
		CacheManager:     solver.NewCacheManager(ctx, "local", cacheStorage, bkworker.NewCacheResultStorage(wc)),
		CacheStore:       cacheStorage,
		ResolveCacheImporterFuncs: map[string]remotecache.ResolveCacheImporterFunc{
			"local":    localremotecache.ResolveCacheImporterFunc(sm),
			"registry": registryremotecache.ResolveCacheImporterFunc(sm, st.opt.ContentStore, hosts),
		},
		ResolveCacheExporterFuncs: map[string]remotecache.ResolveCacheExporterFunc{
			"inline":   inlineremotecache.ResolveCacheExporterFunc(),
			"local":    localremotecache.ResolveCacheExporterFunc(sm),
			"registry": registryremotecache.ResolveCacheExporterFunc(sm, hosts),
		},
		Entitlements:   b.entitlements(),
		HistoryDB:      historyDB,
		LeaseManager:   st.opt.LeaseManager,
		ContentStore:   st.opt.ContentStore,
		GarbageCollect: w.GarbageCollect,
		TraceCollector: traceRecorder(),
	})
	if err != nil {
		return nil, err
	}

	server := grpc.NewServer(
		// Spans of each request go to the recorder, which keeps a build's
		// trace in its history record (docker buildx history trace).
		grpc.StatsHandler(tracing.ServerStatsHandler(otelgrpc.WithTracerProvider(tracer()))),
		grpc.ChainUnaryInterceptor(grpcerrors.UnaryServerInterceptor),
		grpc.StreamInterceptor(grpcerrors.StreamServerInterceptor),
		grpc.MaxRecvMsgSize(maxMsgSize),
		grpc.MaxSendMsgSize(maxMsgSize),
	)
	ctrl.Register(server)
	return &running{controller: ctrl, worker: w, server: server, storage: st}, nil
}

// newWorker builds the worker on st: the executor, the GC policy and the
// engine's image source and exporter hooks.
func (b *Builder) newWorker(ctx context.Context, st *storage) (*worker, error) {
	opt := &st.opt
	opt.RegistryHosts = resolver.NewRegistryConfig(b.opts.Registries)
	opt.BuildkitVersion = buildkitVersion()
	opt.Executor = noExecutor{}
	if b.opts.NewExecutor != nil {
		exe, err := b.opts.NewExecutor()
		if err != nil {
			return nil, err
		}
		opt.Executor = exe
	}
	policy, err := b.opts.GC.policy(b.opts.Root)
	if err != nil {
		return nil, err
	}
	opt.GCPolicy = policy
	bw, err := base.NewWorker(ctx, *opt)
	if err != nil {
		return nil, err
	}
	w := &worker{Worker: bw, moby: b.opts.MobyExporter}
	w.parts = Parts{
		CacheManager:   bw.CacheManager(),
		ContentStore:   opt.ContentStore,
		LeaseManager:   opt.LeaseManager,
		SessionManager: b.sessions,
	}
	// Replaces BuildKit's own HTTP source: the same, plus the contexts
	// uploaded with POST /build?version=2.
	hs, err := b.httpSource(w.parts)
	if err != nil {
		return nil, errors.Join(err, bw.Close())
	}
	bw.SourceManager.Register(hs)
	if b.opts.ImageSource != nil {
		src, err := b.opts.ImageSource(w.parts)
		if err != nil {
			return nil, errors.Join(err, bw.Close())
		}
		// Registering the same scheme again replaces BuildKit's own.
		bw.SourceManager.Register(src)
		w.images, _ = src.(metadataResolver)
	}
	return w, nil
}

// entitlements are what builds may be granted: dockerd's defaults unless
// configured.
func (b *Builder) entitlements() []string {
	if b.opts.Entitlements != nil {
		return b.opts.Entitlements
	}
	return []string{"network.host"}
}
