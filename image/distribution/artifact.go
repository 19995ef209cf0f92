package distribution

import (
	"context"
	"encoding/json"
	"io"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// Artifact is a registry manifest that is not an image's, such as a
// managed plugin's: a config blob of its own media type and layers, which
// berth keeps outside the image store.
type Artifact struct {
	// Digest is the manifest's (set by FetchArtifact).
	Digest      digest.Digest
	Config      ocispec.Descriptor
	ConfigBytes []byte
	Layers      []ocispec.Descriptor
	// Open downloads one of the layers, verified against its digest as it
	// is read to the end.
	Open func(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error)
}

// FetchArtifact resolves named (tagged or by digest) to a single manifest
// and reads its config blob.
func (s *Service) FetchArtifact(ctx context.Context, named reference.Named, a Auth) (*Artifact, error) {
	ref := "latest"
	if c, ok := named.(reference.Canonical); ok {
		ref = c.Digest().String()
	} else if t, ok := named.(reference.Tagged); ok {
		ref = t.Tag()
	}
	var out *Artifact
	err := s.forEachEndpoint(ctx, named, a, false, func(repo *repository) error {
		b, _, md, err := repo.getManifest(ctx, ref)
		if err != nil {
			return s.pullError(repo, named, err)
		}
		var m manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return errdefs.InvalidParameterf("manifest of %s: %v", reference.FamiliarString(named), err)
		}
		if len(m.Manifests) > 0 || m.Config.Digest == "" {
			return errdefs.InvalidParameterf("%s is not a single manifest", reference.FamiliarString(named))
		}
		cfg, err := repo.getBlobBytes(ctx, m.Config.Digest)
		if err != nil {
			return err
		}
		out = &Artifact{
			Digest: md, Config: m.Config, ConfigBytes: cfg, Layers: m.Layers,
			Open: func(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
				rc, _, err := repo.openBlob(ctx, d.Digest, d.Size)
				return rc, err
			},
		}
		return nil
	})
	if err != nil {
		return nil, noPrompt(err)
	}
	return out, nil
}

// PushArtifact uploads an artifact's blobs that the repository lacks and
// a docker schema 2 manifest for them under named's tag; it returns the
// manifest's digest.
func (s *Service) PushArtifact(ctx context.Context, named reference.NamedTagged, a Auth, art *Artifact, status func(string)) (digest.Digest, error) {
	var pushed digest.Digest
	err := s.forEachEndpoint(ctx, named, a, true, func(repo *repository) error {
		if ok, _, err := repo.statBlob(ctx, art.Config.Digest); err != nil {
			return err
		} else if !ok {
			if err := repo.putMonolithic(ctx, art.ConfigBytes, art.Config.Digest); err != nil {
				return err
			}
		}
		for _, l := range art.Layers {
			if ok, _, err := repo.statBlob(ctx, l.Digest); err != nil {
				return err
			} else if ok {
				if status != nil {
					status(l.Digest.Encoded()[:12] + ": Layer already exists")
				}
				continue
			}
			loc, err := repo.startUpload(ctx)
			if err != nil {
				return err
			}
			rc, err := art.Open(ctx, l)
			if err != nil {
				return err
			}
			err = repo.uploadStream(ctx, loc, rc, 0, func() digest.Digest { return l.Digest })
			rc.Close()
			if err != nil {
				return err
			}
			if status != nil {
				status(l.Digest.Encoded()[:12] + ": Pushed")
			}
		}
		b, err := json.Marshal(struct {
			SchemaVersion int                  `json:"schemaVersion"`
			MediaType     string               `json:"mediaType"`
			Config        ocispec.Descriptor   `json:"config"`
			Layers        []ocispec.Descriptor `json:"layers"`
		}{2, MediaTypeDockerManifest, art.Config, art.Layers})
		if err != nil {
			return err
		}
		pushed, err = repo.putManifest(ctx, named.Tag(), MediaTypeDockerManifest, b)
		return err
	})
	if err != nil {
		return "", noPrompt(err)
	}
	return pushed, nil
}
