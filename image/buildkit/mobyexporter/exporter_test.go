package mobyexporter

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/cache"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image/buildkit/diffid"
	"github.com/berthd/berth/image/buildkit/internal/cachetest"
	"github.com/berthd/berth/image/buildkit/layerprogress"
)

// fakeImages is berth's image store reduced to the chains it has, the
// images it registered and the names it gave.
type fakeImages struct {
	chains  map[digest.Digest]bool
	configs map[digest.Digest][]byte
	tags    []string
	// read lists, per layer unpacked, the files of its tar.
	read [][]string
}

func newFake() *fakeImages {
	return &fakeImages{chains: map[digest.Digest]bool{}, configs: map[digest.Digest][]byte{}}
}

func (f *fakeImages) Create(ctx context.Context, layers []Layer, config func([]digest.Digest) ([]byte, error)) (digest.Digest, []byte, error) {
	var diffIDs []digest.Digest
	for _, l := range layers {
		if l.DiffID != "" && f.chains[identity.ChainID(append(diffIDs, l.DiffID))] {
			diffIDs = append(diffIDs, l.DiffID)
			continue
		}
		rc, err := l.Open(ctx)
		if err != nil {
			return "", nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return "", nil, err
		}
		d := digest.FromBytes(b)
		if l.DiffID != "" && l.DiffID != d {
			return "", nil, fmt.Errorf("layer %s has diff ID %s", l.DiffID, d)
		}
		names, err := tarNames(bytes.NewReader(b))
		if err != nil {
			return "", nil, err
		}
		f.read = append(f.read, names)
		diffIDs = append(diffIDs, d)
		f.chains[identity.ChainID(diffIDs)] = true
	}
	raw, err := config(diffIDs)
	if err != nil {
		return "", nil, err
	}
	id := digest.FromBytes(raw)
	f.configs[id] = raw
	return id, raw, nil
}

func (f *fakeImages) Tag(_ context.Context, id digest.Digest, ref reference.Named) error {
	if f.configs[id] == nil {
		return errors.New("tag of an unknown image")
	}
	f.tags = append(f.tags, ref.String())
	return nil
}

func tarNames(r io.Reader) ([]string, error) {
	var names []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			sort.Strings(names)
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		names = append(names, strings.TrimPrefix(h.Name, "./"))
	}
}

func export(ctx context.Context, t *testing.T, images Images, attrs map[string]string, src *exporter.Source) map[string]string {
	t.Helper()
	resp, descRef, err := tryExport(ctx, images, attrs, src)
	if err != nil {
		t.Fatal(err)
	}
	if descRef != nil {
		descRef.Release()
	}
	return resp
}

func tryExport(ctx context.Context, images Images, attrs map[string]string, src *exporter.Source) (map[string]string, exporter.DescriptorReference, error) {
	exp, err := New(Opt{Images: images})
	if err != nil {
		return nil, nil, err
	}
	inst, err := exp.Resolve(ctx, 0, attrs)
	if err != nil {
		return nil, nil, err
	}
	resp, _, descRef, err := inst.Export(ctx, src, exporter.ExportBuildInfo{})
	return resp, descRef, err
}

// baseLayer is a cache manager holding one committed layer of files.
func baseLayer(t *testing.T, files map[string]string) (context.Context, *cachetest.Env, cache.ImmutableRef) {
	ctx := cachetest.Context(t)
	env := cachetest.New(t)
	base := cachetest.Layer(ctx, t, env.Manager, nil, files)
	t.Cleanup(func() { base.Release(context.WithoutCancel(ctx)) })
	return ctx, env, base
}

func frontendConfig(t *testing.T, history ...ocispec.History) []byte {
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, History: history}
	cfg.Config.Cmd = []string{"sh"}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A build result becomes an image with its layers, the frontend's
// history, every name given, and the response buildx prints; layers the
// store already has are not read again.
func TestExportRegistersTagsAndReusesLayers(t *testing.T) {
	ctx, env, base := baseLayer(t, map[string]string{"base": "1"})
	top := cachetest.Layer(ctx, t, env.Manager, base, map[string]string{"built": "2"})
	defer top.Release(context.WithoutCancel(ctx))

	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	config := frontendConfig(t,
		ocispec.History{CreatedBy: "ADD base /", Created: &created},
		ocispec.History{CreatedBy: "ENV A=1", EmptyLayer: true},
		ocispec.History{CreatedBy: "RUN build"},
	)
	src := &exporter.Source{Ref: top, Metadata: map[string][]byte{exptypes.ExporterImageConfigKey: config}}
	f := newFake()
	resp := export(ctx, t, f, map[string]string{"name": "example.com/app:1,app"}, src)

	if len(f.configs) != 1 {
		t.Fatalf("%d images registered", len(f.configs))
	}
	var id digest.Digest
	var raw []byte
	for id, raw = range f.configs {
	}
	if resp[exptypes.ExporterImageDigestKey] != id.String() || resp[exptypes.ExporterImageConfigDigestKey] != digest.FromBytes(raw).String() {
		t.Fatalf("response %v for image %s", resp, id)
	}
	if resp["image.name"] != "example.com/app:1,docker.io/library/app" {
		t.Fatalf("image.name = %q", resp["image.name"])
	}
	if strings.Join(f.tags, ",") != "example.com/app:1,docker.io/library/app:latest" {
		t.Fatalf("tags %v", f.tags)
	}
	if len(f.read) != 2 || strings.Join(f.read[0], ",") != "base" || strings.Join(f.read[1], ",") != "built" {
		t.Fatalf("layers read %v, want [base] [built]", f.read)
	}
	var got ocispec.Image
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.RootFS.DiffIDs) != 2 || len(got.History) != 3 || got.History[2].CreatedBy != "RUN build" || got.Config.Cmd[0] != "sh" {
		t.Fatalf("config %s", raw)
	}
	for i, h := range got.History {
		if h.Created == nil {
			t.Fatalf("history %d has no creation time: %s", i, raw)
		}
	}
	if got.Created == nil {
		t.Fatalf("no created: %s", raw)
	}

	// The same result again (a cached rebuild): nothing is read.
	f.read = nil
	resp2 := export(ctx, t, f, map[string]string{"name": "app"}, src)
	if len(f.read) != 0 || resp2[exptypes.ExporterImageDigestKey] != id.String() {
		t.Fatalf("rebuild read %v and made %v", f.read, resp2)
	}

	// A build that adds no layer to the base reuses the base's layer.
	f.read = nil
	export(ctx, t, f, nil, &exporter.Source{Ref: base, Metadata: map[string][]byte{exptypes.ExporterImageConfigKey: frontendConfig(t)}})
	if len(f.read) != 0 {
		t.Fatalf("an image on the base alone read %v", f.read)
	}
}

// A result without history (llb made by hand) gets one entry per layer
// from the cache's own records; one without a config gets the default.
func TestHistoryFilledFromLayers(t *testing.T) {
	ctx, _, base := baseLayer(t, map[string]string{"x": "1"})
	f := newFake()
	export(ctx, t, f, nil, &exporter.Source{Ref: base})
	var got ocispec.Image
	for _, raw := range f.configs {
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
	}
	if len(got.History) != 1 || got.History[0].Comment != "buildkit.exporter.image.v0" || got.History[0].CreatedBy != "test layer" || got.Config.WorkingDir != "/" {
		t.Fatalf("config %+v", got)
	}
}

// More platforms than one cannot go to a single image in the store.
func TestExportRefusesMultiPlatform(t *testing.T) {
	ctx := cachetest.Context(t)
	src := &exporter.Source{Refs: map[string]cache.ImmutableRef{"linux/amd64": nil, "linux/arm64": nil}}
	if _, _, err := tryExport(ctx, newFake(), nil, src); err == nil || !strings.Contains(err.Error(), "multiple platforms") {
		t.Fatalf("err %v", err)
	}
}

func TestAlignHistoryExtraLayersBecomeEmpty(t *testing.T) {
	now := time.Now()
	h := alignHistory([]ocispec.History{{CreatedBy: "a", Created: &now}, {CreatedBy: "b"}}, []layerMeta{{created: &now}})
	if len(h) != 2 || h[0].EmptyLayer || !h[1].EmptyLayer || h[1].Created == nil {
		t.Fatalf("%+v", h)
	}
}

// pushingImages is a store that can push.
type pushingImages struct {
	*fakeImages
	pushed []string
}

func (p *pushingImages) Push(_ context.Context, ref reference.Named, _ Credentials, report func(layerprogress.Step)) error {
	report(layerprogress.Step{ID: "0123456789ab", Action: "Pushed"})
	p.pushed = append(p.pushed, ref.String())
	return nil
}

// push=true (buildx --push on an engine with a snapshotter) pushes every
// name after naming it; without a name it is refused, as BuildKit does.
func TestExportPush(t *testing.T) {
	ctx, _, base := baseLayer(t, map[string]string{"x": "1"})
	src := &exporter.Source{Ref: base, Metadata: map[string][]byte{exptypes.ExporterImageConfigKey: frontendConfig(t)}}

	p := &pushingImages{fakeImages: newFake()}
	export(ctx, t, p, map[string]string{"name": "127.0.0.1:5000/a:1,127.0.0.1:5000/b", "push": "true"}, src)
	if strings.Join(p.pushed, ",") != "127.0.0.1:5000/a:1,127.0.0.1:5000/b:latest" || len(p.tags) != 2 {
		t.Fatalf("pushed %v, tagged %v", p.pushed, p.tags)
	}
	if _, _, err := tryExport(ctx, p, map[string]string{"push": "true"}, src); err == nil || !strings.Contains(err.Error(), "tag is needed") {
		t.Fatalf("push without a name: %v", err)
	}
	if _, _, err := tryExport(ctx, p, map[string]string{"push": "maybe"}, src); err == nil {
		t.Fatal("push=maybe accepted")
	}
	if _, _, err := tryExport(ctx, newFake(), map[string]string{"name": "a", "push": "true"}, src); err == nil {
		t.Fatal("a store that cannot push pushed")
	}
}

// On berth's overlay snapshotter a new layer goes from its upper directory
// straight into the store: BuildKit makes no blob for it, a removed file
// is a whiteout, and the diff ID recorded on the cache record spares the
// next export any diff; a store that lost the layer gets it diffed again.
func TestExportOverlayLayersWithoutBlobs(t *testing.T) {
	ctx := cachetest.Context(t)
	env := cachetest.NewOverlay(t)
	base := cachetest.Layer(ctx, t, env.Manager, nil, map[string]string{"keep": "1", "gone": "2"})
	defer base.Release(context.WithoutCancel(ctx))
	top := cachetest.Layer(ctx, t, env.Manager, base, map[string]string{"gone": cachetest.Remove, "new": "3"})
	defer top.Release(context.WithoutCancel(ctx))
	src := &exporter.Source{Ref: top, Metadata: map[string][]byte{exptypes.ExporterImageConfigKey: frontendConfig(t)}}

	f := newFake()
	export(ctx, t, f, nil, src)
	if len(f.read) != 2 || strings.Join(f.read[0], ",") != "gone,keep" || strings.Join(f.read[1], ",") != ".wh.gone,new" {
		t.Fatalf("layers read %v", f.read)
	}
	if _, err := top.GetRemotes(ctx, false, uncompressed, false, nil); !errors.Is(err, cache.ErrNoBlobs) {
		t.Fatalf("BuildKit has blobs for the exported layers (%v)", err)
	}
	for n, l := range top.LayerChain() {
		if diffid.Get(l) == "" {
			t.Fatalf("layer %d: no diff ID recorded", n)
		}
		l.Release(context.WithoutCancel(ctx))
	}

	f.read = nil
	export(ctx, t, f, nil, src)
	if len(f.read) != 0 {
		t.Fatalf("a second export read %v", f.read)
	}
	f.chains = map[digest.Digest]bool{}
	export(ctx, t, f, nil, src)
	if len(f.read) != 2 || strings.Join(f.read[1], ",") != ".wh.gone,new" {
		t.Fatalf("a store without the layers read %v", f.read)
	}
}
