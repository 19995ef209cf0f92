package shim_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/runtime/bundletest"
)

// BenchmarkShimRunTrue is `true` through a shim: launch, create, start,
// exit recorded.
func BenchmarkShimRunTrue(b *testing.B) {
	bundle := bundletest.New(b, "true")
	ctx := context.Background()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c, _ := launch(b, bundle, nil)
		if err := c.Start(ctx); err != nil {
			b.Fatal(err)
		}
		ex, err := c.Wait(ctx)
		if err != nil || ex.Code != 0 {
			b.Fatalf("%+v %v", ex, err)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/run")
}

// BenchmarkShimMemory reports the memory of one shim watching a running
// container, read from /proc/PID/smaps_rollup as the budget is.
func BenchmarkShimMemory(b *testing.B) {
	bundle := bundletest.New(b, "sleep", "60")
	ctx := context.Background()
	var pss, dirty float64
	for i := 0; i < b.N; i++ {
		c, _ := launch(b, bundle, nil)
		if err := c.Start(ctx); err != nil {
			b.Fatal(err)
		}
		st, err := c.State(ctx)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		m := smapsRollup(b, st.ShimPid)
		if i == 0 && testing.Verbose() {
			b.Logf("smaps_rollup: %v", m)
		}
		pss += m["Pss"]
		dirty += m["Private_Dirty"]
		if err := c.Kill(ctx, syscall.SIGKILL, false); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(pss/float64(b.N)/1024, "MiB-Pss")
	b.ReportMetric(dirty/float64(b.N)/1024, "MiB-Private_Dirty")
}

func smapsRollup(b *testing.B, pid int) map[string]float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err == nil {
			m[k] = n
		}
	}
	return m
}
