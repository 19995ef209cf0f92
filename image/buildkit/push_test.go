package buildkit

import (
	"context"
	"testing"

	"github.com/moby/buildkit/exporter"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeExporter records what it was asked and answers resp.
type fakeExporter struct {
	name    string
	resp    map[string]string
	attrs   map[string]string
	log     *[]string
	release *int
}

func (f *fakeExporter) Resolve(_ context.Context, id int, attrs map[string]string) (exporter.ExporterInstance, error) {
	f.attrs = attrs
	return &fakeInstance{f: f, id: id}, nil
}

type fakeInstance struct {
	f  *fakeExporter
	id int
}

func (i *fakeInstance) ID() int                  { return i.id }
func (i *fakeInstance) Name() string             { return i.f.name }
func (i *fakeInstance) Config() *exporter.Config { return exporter.NewConfig() }
func (i *fakeInstance) Type() string             { return i.f.name }
func (i *fakeInstance) Attrs() map[string]string { return i.f.attrs }

func (i *fakeInstance) Export(context.Context, *exporter.Source, exporter.ExportBuildInfo) (map[string]string, exporter.FinalizeFunc, exporter.DescriptorReference, error) {
	*i.f.log = append(*i.f.log, "export "+i.f.name)
	done := func(context.Context) error {
		*i.f.log = append(*i.f.log, "finalize "+i.f.name)
		return nil
	}
	return i.f.resp, done, fakeRef{i.f}, nil
}

type fakeRef struct{ f *fakeExporter }

func (r fakeRef) Release() error { *r.f.release++; return nil }
func (r fakeRef) Descriptor() ocispecs.Descriptor {
	return ocispecs.Descriptor{MediaType: r.f.name}
}

func TestMobyExportPushesOnlyWhenAsked(t *testing.T) {
	var log []string
	released := 0
	store := &fakeExporter{name: "moby", resp: map[string]string{"containerimage.digest": "sha256:id"}, log: &log, release: &released}
	push := &fakeExporter{name: "image", resp: map[string]string{"containerimage.digest": "sha256:manifest", "containerimage.descriptor": "d"}, log: &log, release: &released}
	e := storeThenPush{store: store, push: push}

	inst, err := e.Resolve(t.Context(), 0, map[string]string{"name": "r/x"})
	if err != nil || inst.Type() != "moby" || push.attrs != nil {
		t.Fatalf("without push: %v %v, push exporter resolved %v", inst, err, push.attrs)
	}

	inst, err = e.Resolve(t.Context(), 0, map[string]string{"name": "r/x", "push": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if push.attrs["store"] != "false" || push.attrs["name"] != "r/x" || store.attrs["store"] != "" {
		t.Errorf("push attrs %v, store attrs %v", push.attrs, store.attrs)
	}
	resp, finalize, ref, err := inst.Export(t.Context(), nil, exporter.ExportBuildInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if resp["containerimage.digest"] != "sha256:id" || resp["containerimage.descriptor"] != "d" {
		t.Errorf("response %v: the store's digest, plus the push's descriptor", resp)
	}
	if err := finalize(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{"export moby", "export image", "finalize moby", "finalize image"}
	if len(log) != len(want) {
		t.Fatalf("order %v, want %v", log, want)
	}
	for i := range want {
		if log[i] != want[i] {
			t.Fatalf("order %v, want %v", log, want)
		}
	}
	if ref.Descriptor().MediaType != "image" {
		t.Errorf("descriptor %v, want the pushed one", ref.Descriptor())
	}
	if err := ref.Release(); err != nil || released != 2 {
		t.Errorf("released %d refs (%v), want both", released, err)
	}
}
