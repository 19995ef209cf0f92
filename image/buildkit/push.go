package buildkit

import (
	"context"
	"errors"
	"maps"
	"strconv"

	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// storeThenPush is the "moby" exporter of `--push`. buildx's docker driver
// sees the worker's snapshotter label, takes the engine for one with
// dockerd's containerd image store and leaves the push to the exporter
// (no `docker push` afterwards): the result goes to berth's image store
// and, with push=true, BuildKit's image exporter pushes it (with an inline
// cache when asked) from BuildKit's content store.
type storeThenPush struct {
	store, push exporter.Exporter
}

func (e storeThenPush) Resolve(ctx context.Context, id int, attrs map[string]string) (exporter.ExporterInstance, error) {
	st, err := e.store.Resolve(ctx, id, attrs)
	if err != nil {
		return nil, err
	}
	if push, _ := strconv.ParseBool(attrs[string(exptypes.OptKeyPush)]); !push {
		return st, nil
	}
	pushAttrs := maps.Clone(attrs)
	// BuildKit's exporter has no image store here: it only pushes.
	pushAttrs[string(exptypes.OptKeyStore)] = "false"
	p, err := e.push.Resolve(ctx, id, pushAttrs)
	if err != nil {
		return nil, err
	}
	return &storeThenPushInstance{ExporterInstance: st, push: p}, nil
}

type storeThenPushInstance struct {
	exporter.ExporterInstance
	push exporter.ExporterInstance
}

// Export stores, then exports for the push; the push itself runs in the
// finalize step, after the store's.
func (i *storeThenPushInstance) Export(ctx context.Context, src *exporter.Source, info exporter.ExportBuildInfo) (map[string]string, exporter.FinalizeFunc, exporter.DescriptorReference, error) {
	resp, storeDone, storeRef, err := i.ExporterInstance.Export(ctx, src, info)
	if err != nil {
		return nil, nil, nil, err
	}
	pushResp, pushDone, pushRef, err := i.push.Export(ctx, src, info)
	if err != nil {
		releaseRef(storeRef)
		return nil, nil, nil, err
	}
	// The store's answers (the image ID buildx prints) win; the push adds
	// what the registry got (the manifest's descriptor).
	out := maps.Clone(pushResp)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, resp)
	finalize := func(ctx context.Context) error {
		for _, f := range []exporter.FinalizeFunc{storeDone, pushDone} {
			if f != nil {
				if err := f(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if pushRef == nil && storeRef == nil {
		return out, finalize, nil, nil
	}
	return out, finalize, bothRefs{primary: pushRef, other: storeRef}, nil
}

// bothRefs holds both exports' descriptors until BuildKit releases them;
// the pushed manifest is the one it attaches attestations to.
type bothRefs struct{ primary, other exporter.DescriptorReference }

func (r bothRefs) Release() error {
	return errors.Join(releaseRef(r.primary), releaseRef(r.other))
}

func (r bothRefs) Descriptor() ocispecs.Descriptor {
	if r.primary != nil {
		return r.primary.Descriptor()
	}
	if r.other != nil {
		return r.other.Descriptor()
	}
	return ocispecs.Descriptor{}
}

func releaseRef(r exporter.DescriptorReference) error {
	if r == nil {
		return nil
	}
	return r.Release()
}
