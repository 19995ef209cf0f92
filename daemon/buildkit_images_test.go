package daemon

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/image/buildkit/layerprogress"
	"github.com/berthd/berth/image/buildkit/mobyexporter"
	"github.com/berthd/berth/image/distribution"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/registrytest"
)

func layerTar(t *testing.T, name, data string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(data))
	tw.Close()
	return buf.Bytes()
}

func named(t *testing.T, s string) reference.Named {
	t.Helper()
	r, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// importBase makes base:1, one layer, as `docker import` would.
func importBase(t *testing.T, d *fakeDaemon) []byte {
	t.Helper()
	tarb := layerTar(t, "base.txt", "from the base")
	if _, err := d.images.Import(context.Background(), bytes.NewReader(tarb), image.ImportOptions{Repo: "base", Tag: "1"}); err != nil {
		t.Fatal(err)
	}
	return tarb
}

// builtConfig is the exporter's side of Create: the config for the diff
// IDs the store found.
func builtConfig(diffIDs []digest.Digest) ([]byte, error) {
	return json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
		History:  []ocispec.History{{CreatedBy: "import"}, {CreatedBy: "RUN build"}},
	})
}

func opener(b []byte, opens *int) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) {
		*opens++
		return io.NopCloser(bytes.NewReader(b)), nil
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// FROM's side: a local image is found by name (never by an ID prefix),
// with its config and layers, and its layer tars stream back byte for
// byte.
func TestBuildkitImagesLookupAndOpenLayer(t *testing.T) {
	d := newFakeDaemon(t)
	tarb := importBase(t, d)
	bi := d.buildkitImages()
	ctx := context.Background()

	img, err := bi.Lookup(ctx, named(t, "base:1"))
	if err != nil {
		t.Fatal(err)
	}
	diffID := digest.FromBytes(tarb)
	if len(img.Layers) != 1 || img.Layers[0].DiffID != diffID || img.Layers[0].TarSize != int64(len(tarb)) || digest.FromBytes(img.Config) != img.ID {
		t.Fatalf("image %+v", img)
	}
	if _, err := bi.Lookup(ctx, named(t, "base:2")); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("missing tag: %v", err)
	}
	if _, err := bi.Lookup(ctx, named(t, img.ID.Encoded()[:12])); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("an ID prefix resolved as a name: %v", err)
	}

	rc, err := bi.OpenLayer(ctx, diffID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, tarb) {
		t.Fatalf("layer tar differs (%d bytes, want %d): %v", len(got), len(tarb), err)
	}
	if _, err := bi.OpenLayer(ctx, digest.FromString("nope")); err == nil {
		t.Fatal("opened a layer that does not exist")
	}
}

// -t's side: a built image shares the base's layer, unpacks only its own
// (compressed or not), gets its names, and logs create and tag as dockerd
// does; the same build again reads nothing (and logs create again, as
// dockerd does for every export).
func TestBuildkitImagesCreateAndTag(t *testing.T) {
	d := newFakeDaemon(t)
	baseTar := importBase(t, d)
	bi := d.buildkitImages()
	ctx := context.Background()
	_, live, cancel := d.events.Subscribe(func(m events.Message) bool { return m.Type == events.ImageEventType })
	defer cancel()

	newTar := layerTar(t, "built.txt", "from the build")
	base, top := digest.FromBytes(baseTar), digest.FromBytes(newTar)
	want, _ := builtConfig([]digest.Digest{base, top})
	var baseOpens, topOpens int
	// The new layer's diff ID is not known yet: the store finds it.
	layers := []mobyexporter.Layer{{DiffID: base, Open: opener(baseTar, &baseOpens)}, {Open: opener(gzipped(t, newTar), &topOpens)}}
	id, config, err := bi.Create(ctx, layers, builtConfig)
	if err != nil {
		t.Fatal(err)
	}
	if id != digest.FromBytes(want) || !bytes.Equal(config, want) || baseOpens != 0 || topOpens != 1 {
		t.Fatalf("id %s, base read %d times, new layer %d", id, baseOpens, topOpens)
	}
	if err := bi.Tag(ctx, id, named(t, "built:latest")); err != nil {
		t.Fatal(err)
	}
	img, err := d.images.Get("built")
	if err != nil || img.ID != id || img.TopChain != identity.ChainID([]digest.Digest{base, top}) {
		t.Fatalf("built image %+v: %v", img, err)
	}
	ls, _ := d.images.Layers()
	var rebuilt bytes.Buffer
	if err := ls.WriteTar(img.TopChain, &rebuilt); err != nil || !bytes.Equal(rebuilt.Bytes(), newTar) {
		t.Fatalf("stored layer differs: %v", err)
	}
	wantEvents := []string{"create " + id.String(), "tag built:latest"}
	for _, w := range wantEvents {
		m := <-live
		if got := string(m.Action) + " " + m.Actor.Attributes["name"]; got != w || m.Actor.ID != id.String() {
			t.Fatalf("event %q for %s, want %q", got, m.Actor.ID, w)
		}
	}

	layers[1].DiffID = top
	again, _, err := bi.Create(ctx, layers, builtConfig)
	if err != nil || again != id || baseOpens != 0 || topOpens != 1 {
		t.Fatalf("rebuild: %s %v; reads base %d new %d", again, err, baseOpens, topOpens)
	}
	if m := <-live; m.Action != events.ActionCreate || m.Actor.ID != id.String() {
		t.Fatalf("a rebuild logged %s for %s, want create as dockerd", m.Action, m.Actor.ID)
	}
}

// A layer whose tar is not what its diff ID says leaves nothing behind.
func TestBuildkitImagesCreateRejectsWrongLayer(t *testing.T) {
	d := newFakeDaemon(t)
	bi := d.buildkitImages()
	ctx := context.Background()
	bad := digest.FromString("not this tar")
	n := 0
	before, _ := d.images.Images()
	_, _, err := bi.Create(ctx, []mobyexporter.Layer{{DiffID: bad, Open: opener(layerTar(t, "x", "y"), &n)}}, builtConfig)
	if err == nil || !strings.Contains(err.Error(), "diff ID") {
		t.Fatalf("err %v", err)
	}
	after, _ := d.images.Images()
	ls, _ := d.images.Layers()
	if len(after) != len(before) || len(ls.All()) != 0 {
		t.Fatalf("left %d images (had %d) and layers %v", len(after), len(before), ls.All())
	}
	failing := []mobyexporter.Layer{{DiffID: bad, Open: func(context.Context) (io.ReadCloser, error) { return nil, errors.New("gone") }}}
	if _, _, err := bi.Create(ctx, failing, builtConfig); err == nil {
		t.Fatal("a layer that cannot be read was accepted")
	}
}

// A FROM that is not local is pulled through berth's puller from a
// loopback registry; the digest returned is the manifest's, which the
// store then knows as name@digest.
func TestBuildkitImagesPull(t *testing.T) {
	port, err := registrytest.FreeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registrytest.Start(t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	d := newFakeDaemon(t)
	importBase(t, d)
	ctx := context.Background()
	remote := fmt.Sprintf("%s/base", reg.Addr)
	if err := d.images.TagName("base:1", remote, "1"); err != nil {
		t.Fatal(err)
	}
	if err := d.distribution().Push(ctx, distribution.PushOptions{Name: remote, Tag: "1"}); err != nil {
		t.Fatal(err)
	}
	pushed, _ := d.images.Get(remote + ":1")
	for _, ref := range []string{remote + ":1", "base:1"} {
		if _, err := d.images.Delete(ref, false, false); err != nil {
			t.Fatal(err)
		}
	}

	bi := d.buildkitImages()
	asked := ""
	creds := func(host string) (string, string, error) { asked = host; return "", "", nil }
	p := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	var steps []string
	report := func(s layerprogress.Step) { steps = append(steps, s.Action) }
	img, manifest, err := bi.Pull(ctx, named(t, remote+":1"), p, creds, report)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != pushed.ID || manifest == "" || asked != reg.Addr {
		t.Fatalf("pulled %s manifest %q (asked credentials for %q); pushed %s", img.ID, manifest, asked, pushed.ID)
	}
	if len(steps) == 0 || steps[len(steps)-1] != "Pull complete" {
		t.Fatalf("pull progress %v", steps)
	}
	if local, err := bi.Lookup(ctx, named(t, remote+"@"+manifest.String())); err != nil || local.ID != img.ID {
		t.Fatalf("pinned lookup: %v", err)
	}
}
