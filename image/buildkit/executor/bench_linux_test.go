package executor

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	bk "github.com/moby/buildkit/executor"
	"github.com/moby/buildkit/solver/pb"

	"github.com/berthd/berth/pkg/runtime"
)

// BenchmarkRunTrue measures one Run of `true` on the none network, from
// the call to its return: the root mounted, the spec generated, the
// container created, started, waited for and deleted, the root
// unmounted. pkg/runtime's BenchmarkCreateToExit is the floor under it.
func BenchmarkRunTrue(b *testing.B) {
	e := newTestExecutor(b, Options{})
	root := testRoot(b)
	meta := bk.Meta{Args: []string{"true"}, Env: testPath, Cwd: "/", NetMode: pb.NetMode_NONE}
	ctx := context.Background()
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := e.Run(ctx, "", root, nil, bk.ProcessInfo{Meta: meta}, nil); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-median")
}

// BenchmarkRuntimeOfStep is the runtime's share of BenchmarkRunTrue: the
// same generated spec (seccomp profile and all) created, started,
// waited for and deleted, with the root mounted once. What RunTrue
// takes beyond it is the executor's own work per step.
func BenchmarkRuntimeOfStep(b *testing.B) {
	e := newTestExecutor(b, Options{})
	ctx := context.Background()
	meta := bk.Meta{Args: []string{"true"}, Env: testPath, Cwd: "/", NetMode: pb.NetMode_NONE}
	rootfs, unmount, err := e.mountRoot(ctx, "floor", testRoot(b))
	if err != nil {
		b.Fatal(err)
	}
	defer unmount()
	netns, _ := e.stepNetwork(ctx, meta)
	resolvConf, hosts, clean, err := e.etcFiles(ctx, meta)
	if err != nil {
		b.Fatal(err)
	}
	defer clean()
	spec, release, err := e.spec(ctx, "floor", rootfs, meta, nil, netns, resolvConf, hosts)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		ctr, err := e.rt.Create(ctx, runtime.CreateOpts{ID: "floor", Bundle: filepath.Dir(rootfs), Spec: spec, Ephemeral: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := ctr.Start(); err != nil {
			b.Fatal(err)
		}
		if _, err := ctr.Init.Wait(); err != nil {
			b.Fatal(err)
		}
		if err := ctr.Delete(true); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-median")
}
