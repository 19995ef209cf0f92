package mobyexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/cache"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/util/system"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layerMeta is what BuildKit's cache records about a layer, for history
// entries the frontend did not write (a result made with llb directly).
type layerMeta struct {
	createdBy string
	created   *time.Time
}

// refHistory returns the metadata of the top n layers of ref.
func refHistory(ref cache.ImmutableRef, n int) []layerMeta {
	metas := make([]layerMeta, n)
	if ref == nil {
		return metas
	}
	chain := ref.LayerChain()
	defer chain.Release(context.TODO())
	if len(chain) > n {
		chain = chain[len(chain)-n:]
	}
	off := n - len(chain)
	for i, l := range chain {
		m := &metas[off+i]
		m.createdBy = l.GetDescription()
		if m.createdBy == "" {
			m.createdBy = "created by buildkit"
		}
		t := l.GetCreatedAt()
		m.created = &t
	}
	return metas
}

// defaultConfig is the config of a result the frontend gave none (llb
// built by hand): the host platform and the default PATH.
func defaultConfig() ([]byte, error) {
	p := platforms.Normalize(platforms.DefaultSpec())
	return json.Marshal(ocispec.Image{
		Platform: p,
		Config: ocispec.ImageConfig{
			WorkingDir: "/",
			Env:        []string{"PATH=" + system.DefaultPathEnv(p.OS)},
		},
		RootFS: ocispec.RootFS{Type: "layers"},
	})
}

// finishConfig writes the layers' diff IDs into the frontend's config,
// with one non-empty history entry per layer, creation times everywhere,
// and the inline cache when the build exports one. Every other field is
// kept byte for byte as the frontend wrote it.
func finishConfig(config []byte, diffIDs []digest.Digest, metas []layerMeta, inline *exptypes.InlineCacheEntry) ([]byte, error) {
	if len(config) == 0 {
		var err error
		if config, err = defaultConfig(); err != nil {
			return nil, err
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(config, &m); err != nil {
		return nil, fmt.Errorf("invalid image config from the frontend: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("invalid image config from the frontend: null")
	}
	var history []ocispec.History
	if h, ok := m["history"]; ok {
		if err := json.Unmarshal(h, &history); err != nil {
			return nil, fmt.Errorf("invalid image history from the frontend: %w", err)
		}
	}
	history = alignHistory(history, metas)

	set := func(key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		m[key] = b
		return nil
	}
	if err := set("rootfs", ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}); err != nil {
		return nil, err
	}
	if err := set("history", history); err != nil {
		return nil, err
	}
	if _, ok := m["created"]; !ok {
		var created *time.Time
		for _, h := range history {
			if h.Created != nil {
				created = h.Created
			}
		}
		if err := set("created", created); err != nil {
			return nil, err
		}
	}
	if inline != nil {
		if err := set("moby.buildkit.cache.v0", inline.Data); err != nil {
			return nil, err
		}
	}
	return json.Marshal(m)
}

// alignHistory makes the history name exactly one non-empty entry per
// layer (metas has one entry per layer): extra non-empty entries become
// empty, missing ones are added from the layers' own metadata, and every
// entry gets a creation time (the one before it, or the first known).
func alignHistory(history []ocispec.History, metas []layerMeta) []ocispec.History {
	out := make([]ocispec.History, 0, len(history)+len(metas))
	layer := 0
	for _, h := range history {
		if !h.EmptyLayer {
			if layer >= len(metas) {
				h.EmptyLayer = true
			} else {
				if h.Created == nil {
					h.Created = metas[layer].created
				}
				layer++
			}
		}
		out = append(out, h)
	}
	for _, md := range metas[layer:] {
		out = append(out, ocispec.History{Created: md.created, CreatedBy: md.createdBy, Comment: "buildkit.exporter.image.v0"})
	}
	var last *time.Time
	for _, h := range out {
		if h.Created != nil {
			last = h.Created
			break
		}
	}
	for i := range out {
		if out[i].Created == nil {
			out[i].Created = last
		}
		last = out[i].Created
	}
	return out
}
