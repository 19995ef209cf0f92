package imagesource

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// layerProvider serves an image's layers, by diff ID, as BuildKit blobs:
// the tar is streamed from berth's layer store when BuildKit first needs
// the layer's files.
type layerProvider struct {
	images Images
	chains map[digest.Digest]digest.Digest // diff ID -> chain ID
}

func newLayerProvider(images Images, layers []Layer) *layerProvider {
	p := &layerProvider{images: images, chains: map[digest.Digest]digest.Digest{}}
	ids := identity.ChainIDs(diffIDs(layers))
	for i, l := range layers {
		// A diff ID that repeats (an empty layer twice) is the same tar
		// under either chain.
		if _, ok := p.chains[l.DiffID]; !ok {
			p.chains[l.DiffID] = ids[i]
		}
	}
	return p
}

func (p *layerProvider) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	chain, ok := p.chains[desc.Digest]
	if !ok {
		return nil, errdefs.NotFoundf("layer %s is not in this image", desc.Digest)
	}
	open := func() (io.ReadCloser, error) {
		return p.images.OpenLayer(context.WithoutCancel(ctx), chain)
	}
	return &streamReaderAt{open: open, size: desc.Size}, nil
}

// streamReaderAt is a ReaderAt over a stream. BuildKit reads blobs from
// start to end; a read elsewhere (a resumed copy) skips forward or opens
// the stream again.
type streamReaderAt struct {
	open func() (io.ReadCloser, error)
	size int64

	mu  sync.Mutex
	rc  io.ReadCloser
	off int64
}

func (r *streamReaderAt) Size() int64 { return r.size }

func (r *streamReaderAt) ReadAt(b []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off >= r.size {
		return 0, io.EOF
	}
	if r.rc == nil || off < r.off {
		if r.rc != nil {
			r.rc.Close()
		}
		rc, err := r.open()
		if err != nil {
			return 0, err
		}
		r.rc, r.off = rc, 0
	}
	if off > r.off {
		n, err := io.CopyN(io.Discard, r.rc, off-r.off)
		r.off += n
		if err != nil {
			return 0, fmt.Errorf("skipping to offset %d of a layer: %w", off, err)
		}
	}
	n, err := io.ReadFull(r.rc, b)
	r.off += int64(n)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

func (r *streamReaderAt) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rc == nil {
		return nil
	}
	err := r.rc.Close()
	r.rc = nil
	return err
}
