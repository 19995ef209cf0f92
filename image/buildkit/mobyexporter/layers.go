package mobyexporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/moby/buildkit/cache"
	cacheconfig "github.com/moby/buildkit/cache/config"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/util/compression"
	"github.com/moby/buildkit/util/leaseutil"
	"github.com/moby/buildkit/util/overlay"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/image/buildkit/diffid"
)

// uncompressed asks BuildKit for layer tars as they are: berth stores
// layers uncompressed and computes nothing it would then undo.
var uncompressed = cacheconfig.RefConfig{Compression: compression.New(compression.Uncompressed)}

// plan is the export of one ref's layers.
type plan struct {
	layers []Layer
	// chain holds the ref's layers (and so their snapshots) until done.
	chain   cache.RefList
	cleanup []func() error
}

func (p *plan) done(ctx context.Context) {
	for i := len(p.cleanup) - 1; i >= 0; i-- {
		p.cleanup[i]()
	}
	p.chain.Release(context.WithoutCancel(ctx))
}

// planLayers lists ref's layers, base first, and how to read each one the
// image store turns out not to have.
//
// A layer whose diff ID is recorded (berth's own base layers, and layers
// an earlier export diffed) or known from a BuildKit blob needs nothing
// done. A new layer of an overlay snapshot is diffed straight from its
// upper directory into berth's store: BuildKit computes no blob for it,
// which would cost a content write and several metadata transactions per
// layer, and whose copy berth does not keep. Any other layout (a merged
// or diffed snapshot, another snapshotter) falls back to BuildKit's blobs.
func (i *instance) planLayers(ctx context.Context, ref cache.ImmutableRef, g session.Group) (*plan, error) {
	if err := ref.Finalize(ctx); err != nil {
		return nil, err
	}
	chain := ref.LayerChain()
	p := &plan{chain: chain, layers: make([]Layer, len(chain))}
	ok := false
	defer func() {
		if !ok {
			p.done(ctx)
		}
	}()
	for n, l := range chain {
		p.layers[n].DiffID = diffid.Get(l)
	}
	if err := i.useBlobs(ctx, p, g); err != nil {
		return nil, err
	}
	for n, l := range p.layers {
		if l.Open != nil {
			continue
		}
		if l.DiffID != "" {
			// Known: read only if the store turns out not to have it.
			p.layers[n].Open = i.lazyDiff(p, n, g)
			continue
		}
		open, err := overlayDiff(ctx, p, n, g)
		if err != nil {
			return nil, err
		}
		if open == nil {
			// Not a plain overlay layer: BuildKit's blobs for all.
			if err := i.blobsForAll(ctx, p, ref, g); err != nil {
				return nil, err
			}
			break
		}
		p.layers[n].Open = open
	}
	ok = true
	return p, nil
}

// useBlobs gives the layers BuildKit has blobs for their diff IDs and a
// way to read them. Only the layers without a recorded diff ID are asked
// about, from the top: the first ref in the chain with blobs has them for
// every layer below it.
func (i *instance) useBlobs(ctx context.Context, p *plan, g session.Group) error {
	first := -1
	for n, l := range p.layers {
		if l.DiffID == "" {
			first = n
			break
		}
	}
	if first < 0 {
		return nil
	}
	ctx, release, err := i.lease(ctx)
	if err != nil {
		return err
	}
	defer release()
	for top := len(p.chain) - 1; top >= first; top-- {
		remotes, err := p.chain[top].GetRemotes(ctx, false, uncompressed, false, g)
		if errors.Is(err, cache.ErrNoBlobs) {
			continue
		}
		if err != nil {
			return err
		}
		return fromRemote(p, remotes[0])
	}
	return nil
}

// blobsForAll has BuildKit make (or find) a blob for every layer.
func (i *instance) blobsForAll(ctx context.Context, p *plan, ref cache.ImmutableRef, g session.Group) error {
	ctx, release, err := i.lease(ctx)
	if err != nil {
		return err
	}
	defer release()
	remotes, err := ref.GetRemotes(ctx, true, uncompressed, false, g)
	if err != nil {
		return err
	}
	return fromRemote(p, remotes[0])
}

// fromRemote fills in the layers a remote (base first) describes.
func fromRemote(p *plan, remote *solver.Remote) error {
	if len(remote.Descriptors) > len(p.layers) {
		return fmt.Errorf("%d blobs for %d layers", len(remote.Descriptors), len(p.layers))
	}
	for n, desc := range remote.Descriptors {
		d := desc.Digest
		if s, ok := desc.Annotations[labels.LabelUncompressed]; ok {
			var err error
			if d, err = digest.Parse(s); err != nil {
				return fmt.Errorf("layer %s: %w", desc.Digest, err)
			}
		}
		p.layers[n].DiffID = d
		p.layers[n].Open = blobReader(remote.Provider, desc)
	}
	return nil
}

// blobReader reads a blob BuildKit has (or fetches: a lazy one).
func blobReader(prov content.Provider, desc ocispec.Descriptor) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		ra, err := prov.ReaderAt(ctx, desc)
		if err != nil {
			return nil, err
		}
		return readCloser{io.NewSectionReader(ra, 0, ra.Size()), ra}, nil
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

// lazyDiff reads layer n when the store needs it. A blob BuildKit has a
// record of comes first: it is the tar the recorded diff ID was taken of,
// and reading it mounts nothing, where diffing the snapshot mounts layer
// n-1 too, which unpacks a lazy lower layer (one a registry cache named,
// whose registry may be gone since) though only layer n is wanted. A
// lazy layer n itself is fetched: nobody else has it. A layer without a
// blob is diffed from its overlay directory, or else blobbed by BuildKit.
func (i *instance) lazyDiff(p *plan, n int, g session.Group) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		ctx, release, err := i.lease(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
		open, err := layerBlob(ctx, p.chain[n], n, false, g)
		if errors.Is(err, cache.ErrNoBlobs) {
			if open, err = overlayDiff(ctx, p, n, g); err == nil && open == nil {
				open, err = layerBlob(ctx, p.chain[n], n, true, g)
			}
		}
		if err != nil {
			return nil, err
		}
		return open(ctx)
	}
}

// layerBlob prepares the read of the blob of ref, layer n of its chain;
// create lets BuildKit make the blobs it lacks (else ErrNoBlobs).
func layerBlob(ctx context.Context, ref cache.ImmutableRef, n int, create bool, g session.Group) (func(context.Context) (io.ReadCloser, error), error) {
	remotes, err := ref.GetRemotes(ctx, create, uncompressed, false, g)
	if err != nil {
		return nil, err
	}
	descs := remotes[0].Descriptors
	if len(descs) != n+1 {
		return nil, fmt.Errorf("%d blobs for layer %d", len(descs), n)
	}
	return blobReader(remotes[0].Provider, descs[n]), nil
}

// overlayDiff prepares the diff of layer n as the tar of its overlay
// upper directory (BuildKit's own overlay differ), or returns nil when
// layer n is not one overlay directory on top of layer n-1.
func overlayDiff(ctx context.Context, p *plan, n int, g session.Group) (func(context.Context) (io.ReadCloser, error), error) {
	var lower []mount.Mount
	if n > 0 {
		m, release, err := mounts(ctx, p.chain[n-1], g)
		if err != nil {
			return nil, err
		}
		p.cleanup = append(p.cleanup, release)
		lower = m
	}
	upper, release, err := mounts(ctx, p.chain[n], g)
	if err != nil {
		return nil, err
	}
	p.cleanup = append(p.cleanup, release)
	upperdir, err := overlay.GetUpperdir(lower, upper)
	if err != nil {
		return nil, nil
	}
	return func(ctx context.Context) (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() {
			pw.CloseWithError(overlay.WriteUpperdir(ctx, pw, upperdir, lower))
		}()
		return pr, nil
	}, nil
}

// mounts returns the read-only mounts of a layer's snapshot (its files
// are extracted first if it is lazy).
func mounts(ctx context.Context, ref cache.ImmutableRef, g session.Group) ([]mount.Mount, func() error, error) {
	m, err := ref.Mount(ctx, true, g)
	if err != nil {
		return nil, nil, err
	}
	ms, release, err := m.Mount()
	if err != nil {
		return nil, nil, err
	}
	if release == nil {
		release = func() error { return nil }
	}
	return ms, release, nil
}

// lease holds what BuildKit's blob calls create for the whole export
// instead of one temporary lease per call.
func (i *instance) lease(ctx context.Context) (context.Context, func(), error) {
	lm := i.exp.opt.LeaseManager
	if lm == nil {
		return ctx, func() {}, nil
	}
	ctx, done, err := leaseutil.WithLease(ctx, lm, leaseutil.MakeTemporary)
	if err != nil {
		return nil, nil, err
	}
	return ctx, func() { done(context.WithoutCancel(ctx)) }, nil
}

// record notes on each layer's cache record the diff ID the image store
// found, so that the next export of it needs no diff.
func (p *plan) record(config []byte) {
	var c struct {
		RootFS ocispec.RootFS `json:"rootfs"`
	}
	if json.Unmarshal(config, &c) != nil || len(c.RootFS.DiffIDs) != len(p.chain) {
		return
	}
	for n, l := range p.chain {
		if err := diffid.Set(l, c.RootFS.DiffIDs[n]); err != nil {
			logrus.WithError(err).Debug("could not record a layer's diff ID on its cache record")
		}
	}
}
