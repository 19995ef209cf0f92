package diffid

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/image/buildkit/internal/cachetest"
)

// A recorded diff ID survives on the record, for every later ref to it.
func TestSetGet(t *testing.T) {
	ctx := cachetest.Context(t)
	env := cachetest.New(t)
	ref := cachetest.Layer(ctx, t, env.Manager, nil, map[string]string{"a": "1"})
	defer ref.Release(context.WithoutCancel(ctx))
	if d := Get(ref); d != "" {
		t.Fatalf("new record has %s", d)
	}
	want := digest.FromString("layer")
	if err := Set(ref, want); err != nil {
		t.Fatal(err)
	}
	if err := Set(ref, want); err != nil {
		t.Fatal(err)
	}
	again, err := env.Manager.Get(ctx, ref.ID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release(context.WithoutCancel(ctx))
	if d := Get(again); d != want {
		t.Fatalf("got %q, want %s", d, want)
	}
}
