package imagesource

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/cache"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/source/containerimage"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image/buildkit/internal/cachetest"
	"github.com/berthd/berth/image/buildkit/layerprogress"
	"github.com/berthd/berth/pkg/errdefs"
)

// fakeImages is berth's image store reduced to a map of names, with the
// layer tars in memory and a count of the tars read.
type fakeImages struct {
	mu     sync.Mutex
	byName map[string]*Image
	tars   map[digest.Digest][]byte // chain ID -> tar
	opens  int
	// pulled is what Pull answers (and stores as local under its name).
	pulled   *Image
	manifest digest.Digest
	pulls    []string
}

func newFakeImages() *fakeImages {
	return &fakeImages{byName: map[string]*Image{}, tars: map[digest.Digest][]byte{}}
}

// image makes an image of layers (one tar each) for arch.
func (f *fakeImages) image(t *testing.T, arch string, layers ...map[string]string) *Image {
	img := &Image{}
	var diffIDs []digest.Digest
	for _, files := range layers {
		tar := cachetest.Tar(t, files)
		d := digest.FromBytes(tar)
		diffIDs = append(diffIDs, d)
		f.tars[identity.ChainID(diffIDs)] = tar
		img.Layers = append(img.Layers, Layer{DiffID: d, TarSize: int64(len(tar))})
	}
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: arch}, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}}
	cfg.Config.Env = []string{"FROM=" + arch}
	img.Config, _ = json.Marshal(cfg)
	img.ID = digest.FromBytes(img.Config)
	return img
}

func (f *fakeImages) Lookup(_ context.Context, ref reference.Named) (*Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img := f.byName[ref.String()]; img != nil {
		return img, nil
	}
	return nil, errdefs.NotFoundf("No such image: %s", ref)
}

func (f *fakeImages) Pull(_ context.Context, ref reference.Named, p ocispec.Platform, _ Credentials, report func(layerprogress.Step)) (*Image, digest.Digest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	report(layerprogress.Step{ID: "0123456789ab", Action: "Downloading", Current: 1, Total: 2})
	report(layerprogress.Step{ID: "0123456789ab", Action: "Pull complete"})
	f.pulls = append(f.pulls, ref.String()+" "+platforms.Format(p))
	if f.pulled == nil {
		return nil, "", errdefs.NotFoundf("manifest for %s not found", ref)
	}
	f.byName[ref.String()] = f.pulled
	canonical, _ := reference.WithDigest(reference.TrimNamed(ref), f.manifest)
	f.byName[canonical.String()] = f.pulled
	return f.pulled, f.manifest, nil
}

func (f *fakeImages) OpenLayer(_ context.Context, chain digest.Digest) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tar, ok := f.tars[chain]
	if !ok {
		return nil, errdefs.NotFoundf("layer %s", chain)
	}
	f.opens++
	return io.NopCloser(bytes.NewReader(tar)), nil
}

func hostArch() string { return platforms.DefaultSpec().Architecture }

func newSource(t *testing.T, f *fakeImages) (*Source, *cachetest.Env) {
	env := cachetest.New(t)
	src, err := New(Opt{Images: f, CacheAccessor: env.Manager})
	if err != nil {
		t.Fatal(err)
	}
	return src, env
}

func identifier(t *testing.T, src *Source, ref string, attrs map[string]string) *containerimage.ImageIdentifier {
	p := platforms.DefaultSpec()
	id, err := src.Identifier("docker-image", ref, attrs, &pb.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant})
	if err != nil {
		t.Fatal(err)
	}
	return id.(*containerimage.ImageIdentifier)
}

// snapshot runs an instance as the solver does: cache key, then ref.
func snapshot(ctx context.Context, t *testing.T, src *Source, id *containerimage.ImageIdentifier) (string, cache.ImmutableRef) {
	t.Helper()
	inst, err := src.Resolve(ctx, id, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _, _, done, err := inst.CacheKey(ctx, nil, 0)
	if err != nil || !done {
		t.Fatalf("cache key: %v (done %v)", err, done)
	}
	ref, err := inst.Snapshot(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return key, ref
}

// An image in the local store is used offline: the frontend gets its
// config, its layers reach BuildKit's cache once, and the next build finds
// them there.
func TestLocalImageOfflineAndLayersReused(t *testing.T) {
	ctx := cachetest.Context(t)
	f := newFakeImages()
	img := f.image(t, hostArch(), map[string]string{"bin": "busybox"}, map[string]string{"etc": "motd"})
	f.byName["docker.io/library/busybox:latest"] = img
	src, _ := newSource(t, f)

	id := identifier(t, src, "docker.io/library/busybox:latest", nil)
	res, err := src.ResolveImageMetadata(ctx, id, &sourceresolver.ResolveImageOpt{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Config, img.Config) || res.Digest != "" {
		t.Fatalf("frontend got config %s digest %q, want the local config and no digest", res.Config, res.Digest)
	}

	key, ref := snapshot(ctx, t, src, id)
	defer ref.Release(context.WithoutCancel(ctx))
	if want := keyPrefix + identity.ChainID([]digest.Digest{img.Layers[0].DiffID, img.Layers[1].DiffID}).String(); key != want {
		t.Fatalf("cache key %s, want %s", key, want)
	}
	if f.opens != 0 {
		t.Fatalf("%d layers read before anything needed the files", f.opens)
	}
	if got := cachetest.ReadFile(ctx, t, ref, "bin"); got != "busybox" {
		t.Fatalf("bin = %q", got)
	}
	if got := cachetest.ReadFile(ctx, t, ref, "etc"); got != "motd" {
		t.Fatalf("etc = %q", got)
	}
	if f.opens != 2 {
		t.Fatalf("%d layer tars read, want 2", f.opens)
	}

	_, again := snapshot(ctx, t, src, identifier(t, src, "docker.io/library/busybox:latest", nil))
	defer again.Release(context.WithoutCancel(ctx))
	if got := cachetest.ReadFile(ctx, t, again, "etc"); got != "motd" {
		t.Fatalf("etc = %q", got)
	}
	if f.opens != 2 || len(f.pulls) != 0 {
		t.Fatalf("second build read %d tars and pulled %v; want none", f.opens-2, f.pulls)
	}
}

// --pull (resolve mode "pull") goes to the registry even with a local
// image; the frontend gets the digest it resolved to, and the source op
// pinned to it is served by the pulled image without a second pull.
func TestForcePullAndDigestPin(t *testing.T) {
	ctx := cachetest.Context(t)
	f := newFakeImages()
	f.byName["docker.io/library/busybox:latest"] = f.image(t, hostArch(), map[string]string{"old": "1"})
	f.pulled = f.image(t, hostArch(), map[string]string{"new": "2"})
	f.manifest = digest.FromString("manifest")
	src, _ := newSource(t, f)

	pull := map[string]string{pb.AttrImageResolveMode: "pull"}
	res, err := src.ResolveImageMetadata(ctx, identifier(t, src, "docker.io/library/busybox:latest", pull), &sourceresolver.ResolveImageOpt{ResolveMode: "pull"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != f.manifest || !bytes.Equal(res.Config, f.pulled.Config) {
		t.Fatalf("got digest %s config %s; want the pulled image", res.Digest, res.Config)
	}
	if len(f.pulls) != 1 {
		t.Fatalf("pulls %v, want one", f.pulls)
	}
	_, ref := snapshot(ctx, t, src, identifier(t, src, "docker.io/library/busybox:latest@"+f.manifest.String(), pull))
	defer ref.Release(context.WithoutCancel(ctx))
	if got := cachetest.ReadFile(ctx, t, ref, "new"); got != "2" {
		t.Fatalf("new = %q", got)
	}
	if len(f.pulls) != 1 {
		t.Fatalf("pulls %v: the pinned digest should be served locally", f.pulls)
	}

	wrong := map[string]string{pb.AttrImageChecksum: digest.FromString("other").String()}
	f.manifest = digest.FromString("manifest2")
	if _, err := src.ResolveImageMetadata(ctx, identifier(t, src, "docker.io/library/alpine:latest", wrong), nil, nil, nil); err == nil || !strings.Contains(err.Error(), "does not match expected checksum") {
		t.Fatalf("checksum mismatch: %v", err)
	}
}

// A local image of another architecture does not serve the host platform:
// the build pulls the right one.
func TestPlatformMismatchPulls(t *testing.T) {
	ctx := cachetest.Context(t)
	other := "s390x"
	if runtime.GOARCH == other {
		other = "amd64"
	}
	f := newFakeImages()
	f.byName["docker.io/library/busybox:latest"] = f.image(t, other, map[string]string{"a": "1"})
	src, _ := newSource(t, f)
	_, err := src.ResolveImageMetadata(ctx, identifier(t, src, "docker.io/library/busybox:latest", nil), nil, nil, nil)
	if !errdefs.Is(err, errdefs.NotFound) || len(f.pulls) != 1 || !strings.HasSuffix(f.pulls[0], platforms.Format(platforms.DefaultSpec())) {
		t.Fatalf("err %v pulls %v; want one pull for the host platform", err, f.pulls)
	}
}

// An image without layers (FROM scratch-like) gives no ref.
func TestImageWithoutLayers(t *testing.T) {
	ctx := cachetest.Context(t)
	f := newFakeImages()
	f.byName["docker.io/library/empty:latest"] = f.image(t, hostArch())
	src, _ := newSource(t, f)
	_, ref := snapshot(ctx, t, src, identifier(t, src, "docker.io/library/empty:latest", nil))
	if ref != nil {
		t.Fatal("a ref for an image without layers")
	}
}

// The worker's metadata call for a FROM reaches the local image.
func TestResolveSourceMetadata(t *testing.T) {
	ctx := cachetest.Context(t)
	f := newFakeImages()
	img := f.image(t, hostArch(), map[string]string{"a": "1"})
	f.byName["docker.io/library/busybox:latest"] = img
	src, _ := newSource(t, f)
	p := platforms.DefaultSpec()
	op := &pb.SourceOp{Identifier: "docker-image://docker.io/library/busybox:latest"}
	res, err := src.ResolveSourceMetadata(ctx, op, sourceresolver.Opt{ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &p}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Op != op || res.Image == nil || !bytes.Equal(res.Image.Config, img.Config) || len(f.pulls) != 0 {
		t.Fatalf("response %+v, pulls %v", res, f.pulls)
	}
}
