package executor

import (
	"context"
	"sort"
	"testing"
	"time"

	bk "github.com/moby/buildkit/executor"
	"github.com/moby/buildkit/solver/pb"
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
