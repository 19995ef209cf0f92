package mobyexporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/cache"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/exporter/containerimage"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/util/leaseutil"
	"github.com/moby/buildkit/util/progress"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/errdefs"
)

// Layer is one layer of the image to register, base first.
type Layer struct {
	// DiffID is "" for a layer whose tar nobody has read yet: the image
	// store learns it as it stores the layer.
	DiffID digest.Digest
	// Open streams the layer's tar (uncompressed, or compressed when
	// BuildKit holds only a compressed blob). The image store calls it
	// only for layers it does not have.
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// Images is what the exporter needs from berth's image store.
type Images interface {
	// Create stores the layers, registers the image whose config
	// config makes from their diff IDs, logs its create event, and
	// returns its ID and config.
	Create(ctx context.Context, layers []Layer, config func(diffIDs []digest.Digest) ([]byte, error)) (digest.Digest, []byte, error)
	// Tag points ref at the image and logs a tag event.
	Tag(ctx context.Context, id digest.Digest, ref reference.Named) error
}

// Opt is what New needs. ContentStore and LeaseManager are BuildKit's;
// with them the exporter hands the build history a reference to the image
// config, as BuildKit's own exporters do. SessionManager gives a push the
// client's registry credentials.
type Opt struct {
	Images         Images
	ContentStore   content.Store
	LeaseManager   leases.Manager
	SessionManager *session.Manager
}

type imageExporter struct{ opt Opt }

// New returns the exporter.
func New(opt Opt) (exporter.Exporter, error) {
	if opt.Images == nil {
		return nil, errors.New("mobyexporter: Images is required")
	}
	return &imageExporter{opt: opt}, nil
}

func (e *imageExporter) Resolve(ctx context.Context, id int, attrs map[string]string) (exporter.ExporterInstance, error) {
	i := &instance{exp: e, id: id, attrs: attrs}
	if v, ok := attrs[string(exptypes.OptKeyPush)]; ok {
		push, err := strconv.ParseBool(v)
		if err != nil {
			return nil, errdefs.InvalidParameterf("invalid push value %q", v)
		}
		i.push = push
	}
	if v := attrs[string(exptypes.OptKeyName)]; v != "" {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			ref, err := reference.ParseNormalizedNamed(name)
			if err != nil {
				return nil, errdefs.InvalidParameterf("invalid image name %q: %v", name, err)
			}
			i.names = append(i.names, ref)
		}
	}
	return i, nil
}

type instance struct {
	exp   *imageExporter
	id    int
	attrs map[string]string
	names []reference.Named
	push  bool
}

func (i *instance) ID() int                  { return i.id }
func (i *instance) Type() string             { return "image" }
func (i *instance) Name() string             { return "exporting to image" }
func (i *instance) Config() *exporter.Config { return exporter.NewConfig() }
func (i *instance) Attrs() map[string]string { return i.attrs }

func (i *instance) Export(ctx context.Context, src *exporter.Source, info exporter.ExportBuildInfo) (map[string]string, exporter.FinalizeFunc, exporter.DescriptorReference, error) {
	ref, frontendConfig, err := pickResult(src)
	if err != nil {
		return nil, nil, nil, err
	}
	inline, err := inlineCache(ctx, info, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	var p *plan
	done := progress.OneOff(ctx, "exporting layers")
	if ref != nil {
		if p, err = i.planLayers(ctx, ref, session.NewGroup(info.SessionID)); err != nil {
			return nil, nil, nil, done(err)
		}
		defer p.done(ctx)
	} else {
		p = &plan{}
	}
	metas := refHistory(ref, len(p.layers))
	id, config, err := i.exp.opt.Images.Create(ctx, p.layers, func(diffIDs []digest.Digest) ([]byte, error) {
		return finishConfig(frontendConfig, diffIDs, metas, inline)
	})
	if err := done(err); err != nil {
		return nil, nil, nil, err
	}
	p.record(config)
	configDigest := digest.FromBytes(config)
	progress.OneOff(ctx, "writing image "+configDigest.String())(nil)
	var names []string
	for _, n := range i.names {
		done := progress.OneOff(ctx, "naming to "+n.String())
		if err := done(i.exp.opt.Images.Tag(ctx, id, reference.TagNameOnly(n))); err != nil {
			return nil, nil, nil, err
		}
		// As typed (normalized): dockerd's response has no :latest added.
		names = append(names, n.String())
	}
	if i.push {
		if len(names) == 0 {
			return nil, nil, nil, errdefs.InvalidParameterf("tag is needed when pushing to registry")
		}
		if err := i.pushAll(ctx, info.SessionID); err != nil {
			return nil, nil, nil, err
		}
	}
	resp := map[string]string{
		exptypes.ExporterImageConfigDigestKey: configDigest.String(),
		exptypes.ExporterImageDigestKey:       id.String(),
	}
	if len(names) > 0 {
		resp["image.name"] = strings.Join(names, ",")
	}
	descRef, err := i.configReference(ctx, config)
	if err != nil {
		return nil, nil, nil, err
	}
	return resp, nil, descRef, nil
}

// pickResult takes the one ref (a build for one platform) and its config.
func pickResult(src *exporter.Source) (cache.ImmutableRef, []byte, error) {
	switch {
	case len(src.Refs) > 1:
		return nil, nil, errdefs.InvalidParameterf("exporting multiple platforms to the image store is not supported; use --push or an oci/docker exporter")
	case len(src.Refs) == 1 && src.Ref != nil:
		return nil, nil, errors.New("invalid exporter input: Ref and Refs are mutually exclusive")
	case len(src.Refs) == 0:
		return src.Ref, src.Metadata[exptypes.ExporterImageConfigKey], nil
	}
	ps, err := exptypes.ParsePlatforms(src.Metadata)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot export image, failed to parse platforms: %w", err)
	}
	if len(ps.Platforms) != 1 {
		return nil, nil, fmt.Errorf("number of platforms does not match references %d %d", len(ps.Platforms), len(src.Refs))
	}
	pid := ps.Platforms[0].ID
	return src.Refs[pid], src.Metadata[exptypes.ExporterImageConfigKey+"/"+pid], nil
}

func inlineCache(ctx context.Context, info exporter.ExportBuildInfo, ref cache.ImmutableRef) (*exptypes.InlineCacheEntry, error) {
	if info.InlineCache == nil {
		return nil, nil
	}
	res, err := info.InlineCache(ctx)
	if err != nil || res == nil {
		return nil, err
	}
	if ref != nil {
		e, _ := res.FindRef(ref.ID())
		return e, nil
	}
	return res.Ref, nil
}

// configReference keeps the image config in BuildKit's content store under
// a temporary lease for the build record.
func (i *instance) configReference(ctx context.Context, config []byte) (exporter.DescriptorReference, error) {
	cs, lm := i.exp.opt.ContentStore, i.exp.opt.LeaseManager
	if cs == nil || lm == nil {
		return nil, nil
	}
	ctx, done, err := leaseutil.WithLease(ctx, lm, leaseutil.MakeTemporary)
	if err != nil {
		return nil, err
	}
	release := func(ctx context.Context) error {
		err := done(context.WithoutCancel(ctx))
		if err != nil {
			logrus.WithError(err).Warn("could not release the lease of an exported image config")
		}
		return err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	if err := content.WriteBlob(ctx, cs, desc.Digest.String(), bytes.NewReader(config), desc); err != nil {
		release(ctx)
		return nil, fmt.Errorf("saving the image config for the build record: %w", err)
	}
	return containerimage.NewDescriptorReference(desc, release), nil
}
