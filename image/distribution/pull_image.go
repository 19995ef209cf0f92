package distribution

import (
	"context"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/image"
)

// PullImage pulls the one image named (by tag or digest) for plat, as
// Pull does, and returns it with the digest of the manifest or index the
// reference named: BuildKit's image source pins a build to that digest.
func (s *Service) PullImage(ctx context.Context, named reference.Named, plat Platform, a Auth, out Output) (*image.Image, digest.Digest, error) {
	if reference.IsNameOnly(named) {
		named = reference.TagNameOnly(named)
	}
	if _, err := s.images.Layers(); err != nil {
		return nil, "", err
	}
	if out == nil {
		out = func(jsonstream.Message) {}
	}
	var res pullResult
	err := noPrompt(s.forEachEndpoint(ctx, named, a, false, func(repo *repository) error {
		r, err := s.pullOne(ctx, repo, named, plat, out)
		res = r
		return err
	}))
	if err != nil {
		return nil, "", err
	}
	return res.image, res.manifest, nil
}
