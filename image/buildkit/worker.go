package buildkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/diff/apply"
	ctdmetadata "github.com/containerd/containerd/v2/core/metadata"
	ctdsnapshot "github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/containerd/v2/plugins/diff/walking"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay"
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/cache/metadata"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	bkexecutor "github.com/moby/buildkit/executor"
	"github.com/moby/buildkit/executor/resources"
	resourcestypes "github.com/moby/buildkit/executor/resources/types"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/session"
	containerdsnapshot "github.com/moby/buildkit/snapshot/containerd"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/solver/pb"
	srctypes "github.com/moby/buildkit/source/types"
	"github.com/moby/buildkit/util/db/boltutil"
	"github.com/moby/buildkit/util/leaseutil"
	"github.com/moby/buildkit/worker/base"
	wlabel "github.com/moby/buildkit/worker/label"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// snapshotterName is the containerd snapshotter the worker stores layers in.
const snapshotterName = "overlayfs"

// ExporterMoby is the exporter buildx's docker driver asks for: the result
// becomes an image in the engine's image store.
const ExporterMoby = "moby"

// worker is BuildKit's base worker with the engine's exporter and image
// source in.
type worker struct {
	*base.Worker
	moby func(Parts) (exporter.Exporter, error)
	// parts is what the moby exporter hook builds on.
	parts Parts
	// images, when the engine's image source answers the frontend's
	// image-config lookups, takes the docker-image ones off the base
	// worker (which would ask its stock source, a registry).
	images metadataResolver
}

// metadataResolver is an image source that resolves image configs for
// the frontend (FROM's Env, WorkingDir, …).
type metadataResolver interface {
	ResolveSourceMetadata(ctx context.Context, op *pb.SourceOp, opt sourceresolver.Opt, sm *session.Manager, jobCtx solver.JobContext) (*sourceresolver.MetaResponse, error)
}

// ResolveSourceMetadata sends docker-image lookups to the engine's image
// source and the rest (git, http, local, oci-layout) to BuildKit's.
func (w *worker) ResolveSourceMetadata(ctx context.Context, op *pb.SourceOp, opt sourceresolver.Opt, sm *session.Manager, jobCtx solver.JobContext) (*sourceresolver.MetaResponse, error) {
	if w.images != nil && strings.HasPrefix(op.Identifier, srctypes.DockerImageScheme+"://") {
		return w.images.ResolveSourceMetadata(ctx, op, opt, sm, jobCtx)
	}
	return w.Worker.ResolveSourceMetadata(ctx, op, opt, sm, jobCtx)
}

// Exporter answers "moby" with the engine's exporter and every other name
// (image, oci, docker, local, tar) with BuildKit's own.
func (w *worker) Exporter(name string, sm *session.Manager) (exporter.Exporter, error) {
	if name != ExporterMoby {
		return w.Worker.Exporter(name, sm)
	}
	if w.moby != nil {
		store, err := w.moby(w.parts)
		if err != nil {
			return nil, err
		}
		img, err := w.Worker.Exporter("image", sm)
		if err != nil {
			return nil, err
		}
		return storeThenPush{store: store, push: img}, nil
	}
	// Without the engine's exporter the image lands in BuildKit's own
	// content store only; the client still gets its digest.
	return w.Worker.Exporter("image", sm)
}

// storage is BuildKit's stock on-disk state: snapshots, content, leases.
type storage struct {
	opt base.WorkerOpt
	// closer closes it all, until a worker owns the metadata stores
	// (base.Worker.Close closes those); the snapshotter stays ours.
	closer      func() error
	snapshotter ctdsnapshot.Snapshotter
}

// openStorage opens (creating on first use) the worker's stores under root.
func openStorage(ctx context.Context, root string) (*storage, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	sn, err := overlay.NewSnapshotter(filepath.Join(root, "snapshots"))
	if err != nil {
		return nil, fmt.Errorf("buildkit snapshotter: %w", err)
	}
	content, err := local.NewStore(filepath.Join(root, "content"))
	if err != nil {
		sn.Close()
		return nil, err
	}
	db, err := boltutil.Open(filepath.Join(root, "containerdmeta.db"), 0o644, &bolt.Options{
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		sn.Close()
		return nil, err
	}
	mdb := ctdmetadata.NewDB(db, content, map[string]ctdsnapshot.Snapshotter{snapshotterName: sn})
	if err := mdb.Init(ctx); err != nil {
		db.Close()
		sn.Close()
		return nil, err
	}
	md, err := metadata.NewStore(filepath.Join(root, "metadata_v2.db"))
	if err != nil {
		db.Close()
		sn.Close()
		return nil, err
	}
	id, err := base.ID(root)
	if err != nil {
		md.Close()
		db.Close()
		sn.Close()
		return nil, err
	}
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown"
	}
	cs := containerdsnapshot.NewContentStore(mdb.ContentStore(), "buildkit")
	opt := base.WorkerOpt{
		ID:   id,
		Root: root,
		Labels: map[string]string{
			wlabel.Executor:    "berth",
			wlabel.Snapshotter: snapshotterName,
			wlabel.Hostname:    hostname,
			wlabel.Network:     "host",
		},
		MetadataStore:   md,
		ContentMetadata: db,
		Snapshotter:     containerdsnapshot.NewSnapshotter(snapshotterName, mdb.Snapshotter(snapshotterName), "buildkit", nil),
		ContentStore:    cs,
		Applier:         apply.NewFileSystemApplier(cs),
		Differ:          walking.NewWalkingDiff(cs),
		Platforms:       []ocispecs.Platform{platforms.Normalize(platforms.DefaultSpec())},
		LeaseManager:    leaseutil.WithNamespace(ctdmetadata.NewLeaseManager(mdb), "buildkit"),
		GarbageCollect:  mdb.GarbageCollect,
		MountPoolRoot:   filepath.Join(root, "cachemounts"),
	}
	if rm, err := resources.NewMonitor(); err == nil {
		opt.ResourceMonitor = rm
	}
	closer := func() error {
		return errors.Join(md.Close(), db.Close(), sn.Close())
	}
	return &storage{opt: opt, closer: closer, snapshotter: sn}, nil
}

// noExecutor stands in until the daemon hands in berth's runtime: builds
// without RUN (FROM, COPY, ADD) work, RUN fails with a clear message.
type noExecutor struct{}

var errNoExecutor = errors.New("RUN is not available: this berthd has no BuildKit executor")

func (noExecutor) Run(context.Context, string, bkexecutor.Mount, []bkexecutor.Mount, bkexecutor.ProcessInfo, chan<- struct{}) (resourcestypes.Recorder, error) {
	return nil, errNoExecutor
}

func (noExecutor) Exec(context.Context, string, bkexecutor.ProcessInfo) error {
	return errNoExecutor
}
