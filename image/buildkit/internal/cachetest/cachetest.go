package cachetest

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff/apply"
	"github.com/containerd/containerd/v2/core/leases"
	ctdmetadata "github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/containerd/v2/plugins/diff/walking"
	"github.com/containerd/containerd/v2/plugins/snapshots/native"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay"
	"github.com/moby/buildkit/cache"
	"github.com/moby/buildkit/cache/metadata"
	"github.com/moby/buildkit/snapshot"
	containerdsnapshot "github.com/moby/buildkit/snapshot/containerd"
	"github.com/moby/buildkit/util/leaseutil"
	bolt "go.etcd.io/bbolt"
)

// Env is one cache manager with its stores.
type Env struct {
	Manager      cache.Manager
	ContentStore content.Store
	LeaseManager leases.Manager
}

const namespace = "buildkit"

// Context is a context in the namespace the stores use.
func Context(t *testing.T) context.Context {
	return namespaces.WithNamespace(t.Context(), namespace)
}

// New builds the cache manager on containerd's native snapshotter (plain
// copies) in a temp dir; the test's cleanup closes it.
func New(t *testing.T) *Env {
	t.Helper()
	dir := t.TempDir()
	sn, err := native.NewSnapshotter(filepath.Join(dir, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, dir, "native", sn)
}

// NewOverlay is New on containerd's overlay snapshotter, the one berth's
// BuildKit worker uses (it needs root).
func NewOverlay(t *testing.T) *Env {
	t.Helper()
	dir := t.TempDir()
	sn, err := overlay.NewSnapshotter(filepath.Join(dir, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, dir, "overlayfs", sn)
}

func newEnv(t *testing.T, dir, name string, sn snapshots.Snapshotter) *Env {
	store, err := local.NewStore(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "containerdmeta.db"), 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	t.Cleanup(func() { sn.Close() })
	mdb := ctdmetadata.NewDB(db, store, map[string]snapshots.Snapshotter{name: sn})
	if err := mdb.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	cs := containerdsnapshot.NewContentStore(mdb.ContentStore(), namespace)
	lm := leaseutil.WithNamespace(ctdmetadata.NewLeaseManager(mdb), namespace)
	md, err := metadata.NewStore(filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	cm, err := cache.NewManager(cache.ManagerOpt{
		Snapshotter:    snapshot.FromContainerdSnapshotter(name, containerdsnapshot.NSSnapshotter(namespace, mdb.Snapshotter(name)), nil),
		MetadataStore:  md,
		ContentStore:   cs,
		LeaseManager:   lm,
		GarbageCollect: mdb.GarbageCollect,
		Applier:        apply.NewFileSystemApplier(cs),
		Differ:         walking.NewWalkingDiff(cs),
		Root:           dir,
		MountPoolRoot:  filepath.Join(dir, "cachemounts"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cm.Close() })
	return &Env{Manager: cm, ContentStore: cs, LeaseManager: lm}
}

// Tar is an uncompressed layer tar of regular files (name -> content).
func Tar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ReadFile reads a file of a ref's rootfs, mounting it for the call.
func ReadFile(ctx context.Context, t *testing.T, ref cache.ImmutableRef, name string) string {
	t.Helper()
	m, err := ref.Mount(ctx, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, unmount := mount(t, m)
	defer unmount()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Remove, as a file's content for Layer, removes the file instead.
const Remove = "\x00remove"

// Layer makes a committed ref: files written on top of parent (nil for a
// base layer), or removed.
func Layer(ctx context.Context, t *testing.T, cm cache.Manager, parent cache.ImmutableRef, files map[string]string) cache.ImmutableRef {
	t.Helper()
	mref, err := cm.New(ctx, parent, nil, cache.CachePolicyRetain, cache.WithDescription("test layer"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := mref.Mount(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, unmount := mount(t, m)
	for name, data := range files {
		var err error
		if data == Remove {
			err = os.Remove(filepath.Join(dir, name))
		} else {
			err = os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644)
		}
		if err != nil {
			unmount()
			t.Fatal(err)
		}
	}
	if err := unmount(); err != nil {
		t.Fatal(err)
	}
	ref, err := mref.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// mount mounts a snapshot's mounts on a temp dir.
func mount(t *testing.T, m snapshot.Mountable) (string, func() error) {
	t.Helper()
	lm := snapshot.LocalMounter(m)
	dir, err := lm.Mount()
	if err != nil {
		t.Fatal(err)
	}
	return dir, lm.Unmount
}
