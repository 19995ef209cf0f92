package distribution

import (
	"context"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image"
)

// Inspect answers GET /distribution/{name}/json: the descriptor of what
// the name points at in its registry, and the platforms it serves (for a
// single manifest, the one its config names).
func (s *Service) Inspect(ctx context.Context, name string, a Auth) (ocispec.Descriptor, []ocispec.Platform, error) {
	named, err := ParseReference(name, "")
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	named = reference.TagNameOnly(named)
	var desc ocispec.Descriptor
	var platforms []ocispec.Platform
	err = s.forEachEndpoint(ctx, named, a, false, func(repo *repository) error {
		ref := ""
		if d, ok := named.(reference.Digested); ok {
			ref = d.Digest().String()
		} else {
			ref = named.(reference.Tagged).Tag()
		}
		b, ct, d, err := repo.getManifest(ctx, ref)
		if err != nil {
			return s.pullError(repo, named, err)
		}
		m, kind, err := parseManifest(b, ct)
		if err != nil {
			return err
		}
		mt := m.MediaType
		if mt == "" {
			mt = ct
		}
		desc = ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
		platforms = []ocispec.Platform{}
		if kind == "index" {
			for _, md := range m.Manifests {
				if md.Platform != nil {
					platforms = append(platforms, *md.Platform)
				}
			}
			return nil
		}
		raw, err := repo.getBlobBytes(ctx, m.Config.Digest)
		if err != nil {
			return s.pullError(repo, named, err)
		}
		cfg, err := image.ParseConfig(raw)
		if err != nil {
			return err
		}
		platforms = append(platforms, ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion})
		return nil
	})
	return desc, platforms, noPrompt(err)
}
