package image

import (
	"context"
	"encoding/json"
	"io"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/faultpoint"
)

// CommitOptions describe an image made from a container's changes
// (docker commit).
type CommitOptions struct {
	// Parent is the container's image.
	Parent digest.Digest
	// Config is the new image's runtime configuration, already merged.
	Config dockerspec.DockerOCIImageConfig
	// Author and Comment go into the history entry (and Author into the
	// config), CreatedBy is the container's command.
	Author, Comment, CreatedBy string
}

// emptyLayerDiffID is the diff ID of an empty tar (two zero blocks): a
// commit without changes adds no layer, only history, as in dockerd.
const emptyLayerDiffID = digest.Digest("sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")

// Commit registers an image made of Parent's layers plus diff, an
// uncompressed layer tar with .wh. whiteouts, and returns it. The image's
// ID is its config's digest; its parent is recorded, so `docker rmi` of
// the parent sees the child.
func (s *Service) Commit(ctx context.Context, diff io.Reader, o CommitOptions) (*Image, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	parent := s.images[o.Parent]
	s.mu.RUnlock()
	if parent == nil {
		return nil, notFound(o.Parent.String())
	}
	// The parent's layers must outlive the unpack even if the image is
	// removed meanwhile.
	if parent.TopChain != "" {
		if err := s.layers.Acquire(parent.TopChain); err != nil {
			return nil, err
		}
		defer s.layers.Release(parent.TopChain)
	}
	p, err := s.layers.Unpack(ctx, diff)
	if err != nil {
		return nil, err
	}
	empty := p.Result.DiffID == emptyLayerDiffID
	chain := parent.TopChain
	if empty {
		p.Discard()
		if chain != "" {
			if err := s.layers.Acquire(chain); err != nil {
				return nil, err
			}
		}
	} else if chain, err = s.layers.Commit(p, parent.TopChain); err != nil {
		p.Discard()
		return nil, err
	}
	release := func() {
		if chain != "" {
			s.layers.Release(chain)
		}
	}

	pc := parent.Config
	created := time.Now().UTC()
	cfg := &Config{DockerVersion: Version}
	cfg.Created = &created
	cfg.Author = o.Author
	cfg.Config = o.Config
	cfg.Platform = ocispec.Platform{
		Architecture: pc.Architecture, OS: pc.OS, Variant: pc.Variant,
		OSVersion: pc.OSVersion, OSFeatures: pc.OSFeatures,
	}
	if cfg.OS == "" {
		cfg.OS = "linux"
	}
	diffIDs := append([]digest.Digest{}, parent.DiffIDs...)
	if !empty {
		diffIDs = append(diffIDs, p.Result.DiffID)
	}
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}
	cfg.History = append(append([]ocispec.History{}, pc.History...), ocispec.History{
		Created:    &created,
		Author:     o.Author,
		CreatedBy:  o.CreatedBy,
		Comment:    o.Comment,
		EmptyLayer: empty,
	})
	raw, err := json.Marshal(cfg)
	if err != nil {
		release()
		return nil, errdefs.System(err)
	}
	faultpoint.Hit("image.commit.after-layer")
	img, _, err := s.Register(raw, parent.ID)
	if err != nil {
		release()
		return nil, err
	}
	return img, nil
}
