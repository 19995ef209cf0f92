package imagesource

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/cache"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/source"
	"github.com/moby/buildkit/source/containerimage"
	srctypes "github.com/moby/buildkit/source/types"
	"github.com/moby/buildkit/util/flightcontrol"
	"github.com/moby/buildkit/util/resolver"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image/buildkit/layerprogress"
	"github.com/berthd/berth/pkg/errdefs"
)

// Opt is what New needs: berth's image store and BuildKit's cache.
type Opt struct {
	Images        Images
	CacheAccessor cache.Accessor
}

// Source is the docker-image:// source. Besides source.Source it answers
// the image-config lookups of the Dockerfile frontend
// (ResolveImageMetadata), which the worker forwards to it.
type Source struct {
	opt Opt
	// parser is BuildKit's stock image source, used only to parse
	// identifiers so that attributes mean exactly what they mean there.
	parser *containerimage.Source
	// flight merges the resolutions parallel stages make of one image.
	flight flightcontrol.Group[*resolved]
}

var _ source.Source = (*Source)(nil)

// New returns the source.
func New(opt Opt) (*Source, error) {
	if opt.Images == nil || opt.CacheAccessor == nil {
		return nil, errors.New("imagesource: Images and CacheAccessor are required")
	}
	parser, err := containerimage.NewSource(containerimage.SourceOpt{})
	if err != nil {
		return nil, err
	}
	return &Source{opt: opt, parser: parser}, nil
}

// Schemes is docker-image only.
func (s *Source) Schemes() []string { return []string{srctypes.DockerImageScheme} }

// Identifier parses a docker-image:// source op into BuildKit's own
// *containerimage.ImageIdentifier.
func (s *Source) Identifier(scheme, ref string, attrs map[string]string, platform *pb.Platform) (source.Identifier, error) {
	return s.parser.Identifier(scheme, ref, attrs, platform)
}

// Resolve returns the instance that makes the image's cache ref.
func (s *Source) Resolve(ctx context.Context, id source.Identifier, sm *session.Manager, vtx solver.Vertex) (source.SourceInstance, error) {
	imgID, ok := id.(*containerimage.ImageIdentifier)
	if !ok {
		return nil, fmt.Errorf("imagesource: invalid image identifier %v", id)
	}
	return &instance{src: s, id: imgID, platform: platformOf(imgID.Platform), sm: sm, vtx: vtx}, nil
}

// ResolveImageMetadata gives the frontend an image's config (FROM's Env,
// WorkingDir, …), from the local image when the resolve mode allows. The
// digest is empty for a local image found by tag, as with dockerd, so the
// frontend does not pin a digest the local store may not know.
func (s *Source) ResolveImageMetadata(ctx context.Context, id *containerimage.ImageIdentifier, opt *sourceresolver.ResolveImageOpt, sm *session.Manager, g session.Group) (*sourceresolver.ResolveImageResponse, error) {
	mode := id.ResolveMode
	p := id.Platform
	if opt != nil {
		if opt.ResolveMode != "" {
			m, err := resolver.ParseImageResolveMode(opt.ResolveMode)
			if err != nil {
				return nil, err
			}
			mode = m
		}
		if opt.Platform != nil {
			p = opt.Platform
		}
	}
	r, err := s.resolve(ctx, id.Reference.String(), platformOf(p), mode, id.Checksum, credentials(ctx, sm, g))
	if err != nil {
		return nil, err
	}
	return &sourceresolver.ResolveImageResponse{Digest: r.manifest, Config: r.image.Config}, nil
}

// ResolveSourceMetadata is the worker's method of that name for
// docker-image:// ops, so that a worker built on BuildKit's base worker
// (whose own answer comes from its stock image source) forwards them here:
//
//	if strings.HasPrefix(op.Identifier, "docker-image://") {
//		return src.ResolveSourceMetadata(ctx, op, opt, sm, jobCtx)
//	}
func (s *Source) ResolveSourceMetadata(ctx context.Context, op *pb.SourceOp, opt sourceresolver.Opt, sm *session.Manager, jobCtx solver.JobContext) (*sourceresolver.MetaResponse, error) {
	if opt.SourcePolicies != nil {
		return nil, errors.New("source policies can not be set for worker")
	}
	var p *pb.Platform
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		ip := opt.ImageOpt.Platform
		p = &pb.Platform{OS: ip.OS, Architecture: ip.Architecture, Variant: ip.Variant, OSVersion: ip.OSVersion}
	}
	scheme, ref, _ := strings.Cut(op.Identifier, "://")
	id, err := s.Identifier(scheme, ref, op.Attrs, p)
	if err != nil {
		return nil, err
	}
	var g session.Group
	if jobCtx != nil {
		g = jobCtx.Session()
	}
	img, err := s.ResolveImageMetadata(ctx, id.(*containerimage.ImageIdentifier), opt.ImageOpt, sm, g)
	if err != nil {
		return nil, err
	}
	return &sourceresolver.MetaResponse{Op: op, Image: img}, nil
}

// resolved is a resolution: the local image (pulled if it had to be) and
// the manifest digest when a registry or a digest reference named it.
type resolved struct {
	image    *Image
	manifest digest.Digest
}

// resolve finds the image ref names for platform: locally unless mode
// forces a pull (a digest reference is immutable, so a local copy always
// serves it), otherwise through the puller.
func (s *Source) resolve(ctx context.Context, ref string, p ocispec.Platform, mode resolver.ResolveMode, checksum digest.Digest, creds Credentials) (*resolved, error) {
	named, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	key := strings.Join([]string{named.String(), platforms.FormatAll(p), mode.String(), checksum.String()}, "|")
	return s.flight.Do(ctx, key, func(ctx context.Context) (*resolved, error) {
		lookup, local := named, mode != resolver.ResolveModeForcePull
		if checksum != "" {
			if lookup, err = reference.WithDigest(reference.TrimNamed(named), checksum); err != nil {
				return nil, errdefs.InvalidParameter(err)
			}
		}
		var pinned digest.Digest
		if d, ok := lookup.(reference.Digested); ok {
			pinned, local = d.Digest(), true
		}
		if local {
			img, err := s.opt.Images.Lookup(ctx, lookup)
			switch {
			case err == nil && platformMatches(img.Config, p):
				return &resolved{image: img, manifest: pinned}, nil
			case err != nil && !errdefs.Is(err, errdefs.NotFound):
				return nil, err
			}
		}
		report, stop := layerprogress.Start(ctx, "pulling ")
		img, dgst, err := s.opt.Images.Pull(ctx, named, p, creds, report)
		stop()
		if err != nil {
			return nil, err
		}
		if pinned != "" && dgst != pinned {
			return nil, fmt.Errorf("image digest %s for %s does not match expected checksum %s", dgst, reference.FamiliarString(named), pinned)
		}
		return &resolved{image: img, manifest: dgst}, nil
	})
}

// parseRef turns BuildKit's reference (name[:tag][@digest]) into berth's:
// a name with a digest drops its tag, since the digest alone names it.
func parseRef(ref string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	if d, ok := named.(reference.Digested); ok {
		return reference.WithDigest(reference.TrimNamed(named), d.Digest())
	}
	return reference.TagNameOnly(named), nil
}

func platformOf(p *ocispec.Platform) ocispec.Platform {
	if p == nil {
		return platforms.DefaultSpec()
	}
	return platforms.Normalize(*p)
}

// credentials asks the client's session for registry credentials, as
// BuildKit's own resolver does; without a session the pull is anonymous.
func credentials(ctx context.Context, sm *session.Manager, g session.Group) Credentials {
	if sm == nil || g == nil {
		return nil
	}
	get := auth.CredentialsFunc(ctx, sm, g)
	return func(host string) (string, string, error) {
		_, user, secret, err := get(host)
		return user, secret, err
	}
}
