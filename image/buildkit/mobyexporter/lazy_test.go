package mobyexporter

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/moby/buildkit/cache"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/util/leaseutil"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image/buildkit/internal/cachetest"
)

// goneRegistry is the provider of a lazy layer whose registry is gone.
type goneRegistry struct{ asked atomic.Int32 }

func (g *goneRegistry) ReaderAt(context.Context, ocispec.Descriptor) (content.ReaderAt, error) {
	g.asked.Add(1)
	return nil, errors.New("registry gone: connection refused")
}

// uncompressedLayer is the descriptor of an uncompressed layer tar.
func uncompressedLayer(tar []byte) ocispec.Descriptor {
	d := digest.FromBytes(tar)
	return ocispec.Descriptor{
		MediaType:   ocispec.MediaTypeImageLayer,
		Digest:      d,
		Size:        int64(len(tar)),
		Annotations: map[string]string{labels.LabelUncompressed: d.String()},
	}
}

// A base layer a registry cache named stays lazy (berth has it, from its
// own image); the layer above, whose blob BuildKit holds, is read from
// that blob when the store lacks it, without unpacking the lazy base for
// a diff: its registry is gone (integration's TestPushAfterCacheImport).
// A store lacking the base too needs the fetch, and gets its error.
func TestExportReadsBlobAboveLazyLayer(t *testing.T) {
	ctx := cachetest.Context(t)
	env := cachetest.New(t)
	ctx, done, err := leaseutil.WithLease(ctx, env.LeaseManager, leaseutil.MakeTemporary)
	if err != nil {
		t.Fatal(err)
	}
	defer done(context.WithoutCancel(ctx))

	baseTar := cachetest.Tar(t, map[string]string{"base": "1"})
	topTar := cachetest.Tar(t, map[string]string{"top": "2"})
	baseDesc, topDesc := uncompressedLayer(baseTar), uncompressedLayer(topTar)
	if err := content.WriteBlob(ctx, env.ContentStore, topDesc.Digest.String(), bytes.NewReader(topTar), topDesc); err != nil {
		t.Fatal(err)
	}
	gone := &goneRegistry{}
	handlers := cache.DescHandlers{baseDesc.Digest: {Provider: func(session.Group) content.Provider { return gone }, Ref: "gone/cache"}}
	base, err := env.Manager.GetByBlob(ctx, baseDesc, nil, handlers)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Release(context.WithoutCancel(ctx))
	top, err := env.Manager.GetByBlob(ctx, topDesc, base, handlers)
	if err != nil {
		t.Fatal(err)
	}
	defer top.Release(context.WithoutCancel(ctx))
	src := &exporter.Source{Ref: top, Metadata: map[string][]byte{exptypes.ExporterImageConfigKey: frontendConfig(t)}}

	baseChain := identity.ChainID([]digest.Digest{baseDesc.Digest})
	topChain := identity.ChainID([]digest.Digest{baseDesc.Digest, topDesc.Digest})
	// A store with both layers: nothing is read, the diff IDs are recorded.
	f := newFake()
	f.chains[baseChain], f.chains[topChain] = true, true
	export(ctx, t, f, nil, src)
	if len(f.read) != 0 || gone.asked.Load() != 0 {
		t.Fatalf("a store with every layer read %v (registry asked %d times)", f.read, gone.asked.Load())
	}

	// The top layer lost: its blob, not a diff over the lazy base.
	f = newFake()
	f.chains[baseChain] = true
	export(ctx, t, f, nil, src)
	if len(f.read) != 1 || strings.Join(f.read[0], ",") != "top" || gone.asked.Load() != 0 {
		t.Fatalf("a store with the base read %v (registry asked %d times)", f.read, gone.asked.Load())
	}

	// Both lost: only the registry has the base.
	if _, _, err := tryExport(ctx, newFake(), nil, src); err == nil || !strings.Contains(err.Error(), "registry gone") {
		t.Fatalf("a store without the lazy base: %v", err)
	}
}
