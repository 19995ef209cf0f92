package imagesource

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/cache"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/source/containerimage"
	"github.com/moby/buildkit/util/progress"
	"github.com/moby/buildkit/util/progress/controller"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image/buildkit/diffid"
	"github.com/berthd/berth/pkg/errdefs"
)

// instance is one FROM of one build.
type instance struct {
	src      *Source
	id       *containerimage.ImageIdentifier
	platform ocispec.Platform
	sm       *session.Manager
	vtx      solver.Vertex

	mu       sync.Mutex
	res      *resolved
	handlers cache.DescHandlers
}

// keyPrefix keeps berth's keys apart from those of BuildKit's sources.
const keyPrefix = "berth-image:"

// CacheKey is the chain ID of the image's layers: berth computed every
// diff ID from the layer's own bytes when it stored it, so the key names
// the rootfs the ref will hold, whichever image config carries it.
func (i *instance) CacheKey(ctx context.Context, jobCtx solver.JobContext, index int) (string, string, solver.CacheOpts, bool, error) {
	r, err := i.resolve(ctx, jobCtx)
	if err != nil {
		return "", "", nil, false, err
	}
	key := keyPrefix + r.image.ID.String()
	if len(r.image.Layers) > 0 {
		key = keyPrefix + identity.ChainID(diffIDs(r.image.Layers)).String()
	}
	pin := r.manifest
	if pin == "" {
		pin = r.image.ID
	}
	opts := solver.CacheOpts{}
	for d, h := range i.handlers {
		opts[cache.DescHandlerKey(d)] = h
	}
	return key, pin.String(), opts, true, nil
}

// Snapshot makes the image's cache ref: one lazy blob per layer, found
// again by blob chain when an earlier build made it.
func (i *instance) Snapshot(ctx context.Context, jobCtx solver.JobContext) (ir cache.ImmutableRef, err error) {
	r, err := i.resolve(ctx, jobCtx)
	if err != nil {
		return nil, err
	}
	var current cache.ImmutableRef
	defer func() {
		if err != nil && current != nil {
			current.Release(context.WithoutCancel(ctx))
		}
	}()
	name := i.id.Reference.String()
	for _, l := range r.image.Layers {
		parent := current
		current, err = i.src.opt.CacheAccessor.GetByBlob(ctx, layerDescriptor(l), parent, i.handlers, cache.WithImageRef(name))
		if parent != nil {
			parent.Release(context.WithoutCancel(ctx))
		}
		if err != nil {
			return nil, err
		}
		// The export of a build on this layer then knows where it is in
		// berth's store without a blob.
		if err := diffid.Set(current, l.DiffID); err != nil {
			return nil, err
		}
	}
	if i.id.RecordType != "" && current != nil && current.GetRecordType() == "" {
		if err := current.SetRecordType(i.id.RecordType); err != nil {
			return nil, err
		}
	}
	return current, nil
}

// resolve resolves the image once per instance and prepares the
// descriptor handlers that let BuildKit read its layers from berth.
func (i *instance) resolve(ctx context.Context, jobCtx solver.JobContext) (*resolved, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.res != nil {
		return i.res, nil
	}
	var g session.Group
	if jobCtx != nil {
		g = jobCtx.Session()
	}
	done := progress.OneOff(ctx, "resolve "+i.id.Reference.String())
	r, err := i.src.resolve(ctx, i.id.Reference.String(), i.platform, i.id.ResolveMode, i.id.Checksum, credentials(ctx, i.sm, g))
	done(err)
	if err != nil {
		return nil, err
	}
	if lim := i.id.LayerLimit; lim != nil {
		if *lim > len(r.image.Layers) {
			return nil, errdefs.InvalidParameterf("layer limit %d is greater than the number of layers in the image %d", *lim, len(r.image.Layers))
		}
		img := *r.image
		img.Layers = img.Layers[:*lim]
		r = &resolved{image: &img, manifest: r.manifest}
	}
	i.handlers = i.descHandlers(ctx, r.image)
	i.res = r
	return r, nil
}

func (i *instance) descHandlers(ctx context.Context, img *Image) cache.DescHandlers {
	if len(img.Layers) == 0 {
		return nil
	}
	prov := newLayerProvider(i.src.opt.Images, img.Layers)
	pc := &controller.Controller{WriterFactory: progress.FromContext(ctx)}
	if i.vtx != nil {
		pc.Digest = i.vtx.Digest()
		pc.Name = i.vtx.Name()
		pc.ProgressGroup = i.vtx.Options().ProgressGroup
	}
	name := i.id.Reference.String()
	hs := cache.DescHandlers{}
	for _, l := range img.Layers {
		desc := layerDescriptor(l)
		hs[desc.Digest] = &cache.DescHandler{
			Provider:    func(session.Group) content.Provider { return prov },
			Progress:    pc,
			Annotations: desc.Annotations,
			Ref:         name,
		}
	}
	return hs
}

// layerDescriptor describes a berth layer as an uncompressed blob: its
// digest is its diff ID, so nothing is compressed to bring it into
// BuildKit, and the blob chain equals the chain of diff IDs.
func layerDescriptor(l Layer) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:   ocispec.MediaTypeImageLayer,
		Digest:      l.DiffID,
		Size:        l.TarSize,
		Annotations: map[string]string{labels.LabelUncompressed: l.DiffID.String()},
	}
}

func diffIDs(ls []Layer) []digest.Digest {
	out := make([]digest.Digest, len(ls))
	for i, l := range ls {
		out[i] = l.DiffID
	}
	return out
}

// platformMatches reports whether an image config is for the platform a
// build asked for; a config that names no architecture matches any.
func platformMatches(config []byte, want ocispec.Platform) bool {
	var c ocispec.Image
	if err := json.Unmarshal(config, &c); err != nil {
		return false
	}
	if c.Architecture == "" {
		return true
	}
	have := ocispec.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant}
	if have.OS == "" {
		have.OS = "linux"
	}
	return platforms.Only(want).Match(platforms.Normalize(have))
}
