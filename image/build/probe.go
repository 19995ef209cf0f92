package build

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/berthd/berth/pkg/stringid"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// probe looks the step up in the cache. On a hit the step's image is
// the cached one and " ---> Using cache" is printed.
//
// Without --cache-from the cache is the local step index. With it, as in
// dockerd's classic builder, a local hit counts only when it is an
// ancestor of one of the sources, and otherwise a source whose history
// continues the current image's with this step's command is the hit (see
// probeSources).
func (b *Builder) probe(ctx context.Context, st *state, probeCfg *dockerspec.DockerOCIImageConfig) (string, bool) {
	// The key is computed even when the lookup is skipped, so that the
	// step's image is remembered for the next build.
	key := cacheKey(st.imageID, probeCfg)
	if b.opts.NoCache || st.busted {
		return key, false
	}
	hit := ""
	if id := b.cache.get(key); id != "" {
		if _, err := b.backend.GetImage(ctx, id); err != nil {
			b.cache.forget(key)
		} else if len(b.opts.CacheFrom) == 0 || b.sourceAncestor(ctx, id) {
			hit = id
		}
	}
	if hit == "" && len(b.opts.CacheFrom) > 0 {
		hit = b.probeSources(ctx, st, probeCfg)
	}
	if hit == "" {
		st.busted = true
		return key, false
	}
	fmt.Fprint(b.out, " ---> Using cache\n")
	st.imageID = hit
	return key, true
}

// sourceAncestor reports whether id is a strict ancestor (by the images'
// parent links) of a --cache-from image.
func (b *Builder) sourceAncestor(ctx context.Context, id string) bool {
	for _, src := range b.cacheFrom {
		seen := map[string]bool{}
		for p := src.Parent; p != "" && !seen[p]; {
			if p == id {
				return true
			}
			seen[p] = true
			img, err := b.backend.GetImage(ctx, p)
			if err != nil {
				break
			}
			p = img.Parent
		}
	}
	return false
}

// probeSources is dockerd's match of a step against the --cache-from
// images (daemon/images/cache.go): a source matches when the current
// image's history and layers are a prefix of its own and its next
// history entry was made by the same command. The source itself is the
// hit when that entry is its last; else the image for that entry is
// restored from the source's layers, and later steps look at that source
// only.
func (b *Builder) probeSources(ctx context.Context, st *state, probeCfg *dockerspec.DockerOCIImageConfig) string {
	var parent *Image
	if st.imageID != "" {
		p, err := b.backend.GetImage(ctx, st.imageID)
		if err != nil {
			return ""
		}
		parent = p
	}
	n := 0
	if parent != nil {
		n = len(parent.History)
	}
	createdBy := strings.Join(probeCfg.Cmd, " ")
	for _, src := range b.cacheFrom {
		if !continues(src, parent) || src.History[n].CreatedBy != createdBy {
			continue
		}
		if n == len(src.History)-1 {
			return src.ID
		}
		id, err := b.backend.RestoreCached(ctx, st.imageID, src.ID, cloneConfig(st.cfg))
		if err != nil {
			fmt.Fprintf(b.out, "[Warning] cannot use %s as cache: %v\n", stringid.TruncateID(src.ID), err)
			return ""
		}
		b.cacheFrom = []*Image{src}
		return id
	}
	return ""
}

// continues is dockerd's isValidParent: img's history and layers begin
// with parent's, and img has more history.
func continues(img, parent *Image) bool {
	if len(img.History) == 0 {
		return false
	}
	if parent == nil || len(parent.History) == 0 && len(parent.DiffIDs) == 0 {
		return true
	}
	if len(parent.History) >= len(img.History) || len(parent.DiffIDs) > len(img.DiffIDs) {
		return false
	}
	for i, h := range parent.History {
		if !reflect.DeepEqual(h, img.History[i]) {
			return false
		}
	}
	for i, d := range parent.DiffIDs {
		if d != img.DiffIDs[i] {
			return false
		}
	}
	return true
}

func (b *Builder) remember(key, id string) {
	if key != "" {
		b.cache.put(key, id)
	}
}
