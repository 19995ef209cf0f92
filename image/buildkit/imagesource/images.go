package imagesource

import (
	"context"
	"io"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image/buildkit/layerprogress"
)

// Image is a local image as the source needs it.
type Image struct {
	// ID is the digest of Config.
	ID     digest.Digest
	Config []byte
	// Layers are the image's layers, base first.
	Layers []Layer
}

// Layer is one layer of a local image.
type Layer struct {
	DiffID digest.Digest
	// TarSize is the length of the layer's uncompressed tar.
	TarSize int64
}

// Credentials answers the registry credentials for a host ("" and "" for
// anonymous access).
type Credentials func(host string) (user, secret string, err error)

// Images is what the source needs from berth's image store. Errors for an
// image that is not there satisfy errdefs.Is(err, errdefs.NotFound).
type Images interface {
	// Lookup finds a local image by name:tag or name@digest.
	Lookup(ctx context.Context, ref reference.Named) (*Image, error)
	// Pull fetches ref for platform into the image store through berth's
	// puller (as `docker pull` does) and returns it with the digest of the
	// manifest (or index) the reference resolved to.
	// Progress goes to report.
	Pull(ctx context.Context, ref reference.Named, platform ocispec.Platform, creds Credentials, report func(layerprogress.Step)) (*Image, digest.Digest, error)
	// OpenLayer streams the uncompressed tar of the layer whose chain ID is
	// given, keeping the layer from removal until the reader is closed.
	OpenLayer(ctx context.Context, chainID digest.Digest) (io.ReadCloser, error)
}
