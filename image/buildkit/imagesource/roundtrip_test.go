package imagesource

import (
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image/buildkit/internal/cachetest"
	"github.com/berthd/berth/image/buildkit/mobyexporter"
)

// storeOf is the exporter's side of the fake store: it has every layer the
// source's images have, and counts the layers it is made to read.
type storeOf struct {
	*fakeImages
	have  map[digest.Digest]bool // diff IDs
	reads int
	made  []byte
}

func (s *storeOf) Create(ctx context.Context, layers []mobyexporter.Layer, config func([]digest.Digest) ([]byte, error)) (digest.Digest, []byte, error) {
	var diffIDs []digest.Digest
	for _, l := range layers {
		if !s.have[l.DiffID] {
			rc, err := l.Open(ctx)
			if err != nil {
				return "", nil, err
			}
			io.Copy(io.Discard, rc)
			rc.Close()
			s.reads++
		}
		diffIDs = append(diffIDs, l.DiffID)
	}
	raw, err := config(diffIDs)
	if err != nil {
		return "", nil, err
	}
	s.made = raw
	return digest.FromBytes(raw), raw, nil
}

func (s *storeOf) Tag(context.Context, digest.Digest, reference.Named) error { return nil }

// FROM a local image with only config changes (ENV, CMD): the image goes
// back to the store without a layer tar read in either direction.
func TestFromLocalToStoreCopiesNothing(t *testing.T) {
	ctx := cachetest.Context(t)
	f := newFakeImages()
	img := f.image(t, hostArch(), map[string]string{"bin": "busybox"}, map[string]string{"etc": "motd"})
	f.byName["docker.io/library/busybox:latest"] = img
	src, _ := newSource(t, f)
	_, ref := snapshot(ctx, t, src, identifier(t, src, "docker.io/library/busybox:latest", nil))
	defer ref.Release(context.WithoutCancel(ctx))

	store := &storeOf{fakeImages: f, have: map[digest.Digest]bool{}}
	for _, l := range img.Layers {
		store.have[l.DiffID] = true
	}
	exp, err := mobyexporter.New(mobyexporter.Opt{Images: store})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := exp.Resolve(ctx, 0, map[string]string{"name": "built"})
	if err != nil {
		t.Fatal(err)
	}
	var cfg ocispec.Image
	json.Unmarshal(img.Config, &cfg)
	cfg.Config.Env = append(cfg.Config.Env, "BUILT=1")
	config, _ := json.Marshal(cfg)
	if _, _, _, err := inst.Export(ctx, &exporter.Source{Ref: ref, Metadata: map[string][]byte{exptypes.ExporterImageConfigKey: config}}, exporter.ExportBuildInfo{}); err != nil {
		t.Fatal(err)
	}
	if f.opens != 0 || store.reads != 0 {
		t.Fatalf("berth's layers read %d times, exported layers read %d times; want none", f.opens, store.reads)
	}
	var made ocispec.Image
	json.Unmarshal(store.made, &made)
	if len(made.RootFS.DiffIDs) != 2 || made.RootFS.DiffIDs[0] != img.Layers[0].DiffID || made.RootFS.DiffIDs[1] != img.Layers[1].DiffID {
		t.Fatalf("exported rootfs %v", made.RootFS.DiffIDs)
	}
}
