package runtime_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/runtime/bundletest"
)

// BenchmarkCreateToExit measures `true` from Create to the user process
// running (Start returned) and to its exit collected, the figure issue 5
// budgets at 10 ms median. Delete (cgroup removal) is outside the timing.
func BenchmarkCreateToExit(b *testing.B) {
	bundle := bundletest.New(b, "true")
	rt := runtime.New(b.TempDir())
	ctx := context.Background()
	var toRunning, toExit []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c, err := rt.Create(ctx, runtime.CreateOpts{ID: fmt.Sprintf("bench-%d-%d", os.Getpid(), i), Bundle: bundle.Dir, Spec: bundle.Spec})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		st, err := c.Init.Wait()
		if err != nil || st.ExitCode() != 0 {
			b.Fatalf("wait: %v %v", st, err)
		}
		t2 := time.Now()
		b.StopTimer()
		if err := c.Delete(true); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		toRunning = append(toRunning, t1.Sub(t0))
		toExit = append(toExit, t2.Sub(t0))
	}
	b.ReportMetric(median(toRunning), "ms-median-to-running")
	b.ReportMetric(median(toExit), "ms-median-to-exit")
}

func median(d []time.Duration) float64 {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return float64(d[len(d)/2].Microseconds()) / 1000
}

// BenchmarkExecTrue measures `true` exec'd into a running container, from
// Exec to its exit collected: the runtime's floor under `POST
// /exec/{id}/start` (issue 20).
func BenchmarkExecTrue(b *testing.B) {
	bundle := bundletest.New(b, "sleep", "1000")
	rt := runtime.New(b.TempDir())
	ctx := context.Background()
	c, err := rt.Create(ctx, runtime.CreateOpts{ID: fmt.Sprintf("bench-exec-%d", os.Getpid()), Bundle: bundle.Dir, Spec: bundle.Spec})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Delete(true)
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	proc := *bundle.Spec.Process
	proc.Args = []string{"true"}
	var toExit []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		p, err := c.Exec(ctx, runtime.ExecOpts{Process: proc})
		if err != nil {
			b.Fatal(err)
		}
		st, err := p.Wait()
		if err != nil || st.ExitCode() != 0 {
			b.Fatalf("wait: %v %v", st, err)
		}
		toExit = append(toExit, time.Since(t0))
	}
	b.ReportMetric(median(toExit), "ms-median-to-exit")
}
