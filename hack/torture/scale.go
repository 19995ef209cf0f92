package main

// The scale scenario (issue #19, "Load", second half): n running
// containers (busybox sleep, --network none) on one daemon with
// live-restore: how long ps takes at the API, how long a restart takes
// to bring them all back (after kill -9, and after a graceful shutdown,
// which live-restore leaves them running through), and what each costs
// in memory (its share of the daemon's RSS growth, its shim's RSS and
// Pss).

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

const (
	psLimit      = 100 * time.Millisecond // docker ps of them all, at the API
	restoreLimit = 2 * time.Second        // start to the last one listed running
)

// runScale runs the scenario with n containers; it returns the number
// of violations.
func runScale(bin, root string, st *stats, n int) int {
	fmt.Printf("torture: scale: %d running containers\n", n)
	d, ids, cleanup, err := scenarioDaemon(bin, root, "scale", true)
	if err != nil {
		return setupFailed(st, "scale", err)
	}
	defer cleanup()
	v := 0
	empty := d.settle()
	var made []string
	var mu sync.Mutex
	parallel(4, n, func(int) {
		ctx, cancel := ctx30()
		defer cancel()
		t0 := time.Now()
		r, err := d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config:     &container.Config{Image: baseImage, Cmd: []string{"sleep", "1000000"}},
			HostConfig: &container.HostConfig{NetworkMode: "none"}})
		if err == nil {
			ids.add(r.ID)
			_, err = d.cli.ContainerStart(ctx, r.ID, client.ContainerStartOptions{})
		}
		st.record("scale: run -d", time.Since(t0), err, err != nil)
		if err == nil {
			mu.Lock()
			made = append(made, r.ID)
			mu.Unlock()
		}
	})
	if stopping.Load() {
		return v
	}
	v += judgeLatency(st, "scale: run -d", time.Hour) // errors only
	name := fmt.Sprintf("scale: ps of %d running", len(made))
	for i := 0; i < 50; i++ {
		ctx, cancel := ctx30()
		t0 := time.Now()
		l, err := d.cli.ContainerList(ctx, client.ContainerListOptions{})
		cancel()
		if err == nil && len(l.Items) != len(made) {
			err = fmt.Errorf("ps lists %d running, want %d", len(l.Items), len(made))
		}
		st.record(name, time.Since(t0), err, err != nil)
	}
	// The budget is the median's: p99 of 50 is their slowest, which a
	// neighbour on two shared cores decides as much as the daemon.
	v += judgeLatency(st, name, time.Hour)
	if p := pctDur(st.latencies(name), 0.5); p > psLimit {
		fmt.Printf("VIOLATION [%s] p50 %s > %s\n", name, p.Round(time.Millisecond), psLimit)
		st.violation(name)
		v++
	}

	full := d.settle()
	var shimRSS, shimPss int64
	// A shim is told by its open files: read while one moves, it can
	// be missed once.
	shims := d.myShims()
	for try := 0; try < 3 && len(shims) != len(made); try++ {
		time.Sleep(time.Second)
		shims = d.myShims()
	}
	for _, s := range shims {
		shimRSS += statusKiB(s.pid, "VmRSS:") << 10
		shimPss += pssKiB(s.pid) << 10
	}
	st.growth("scale: memory", empty, full)
	st.run("scale: memory")
	if k := int64(len(made)); k > 0 && len(shims) > 0 {
		fmt.Printf("torture: scale: memory per container: daemon RSS share %s (%s → %s for %d), shim RSS %s, shim Pss %s (%d shims)\n",
			kib((full.rss-empty.rss)/k), mib(empty.rss), mib(full.rss), k, kib(shimRSS/int64(len(shims))), kib(shimPss/int64(len(shims))), len(shims))
	}
	if len(shims) != len(made) {
		served := map[string]bool{}
		for _, s := range shims {
			served[s.id] = true
		}
		var without []string
		for _, id := range made {
			if !served[id] {
				without = append(without, id[:12])
			}
		}
		fmt.Printf("VIOLATION [scale: memory] %d shims for %d running containers; none found for %v\n", len(shims), len(made), without)
		st.violation("scale: memory")
		v++
	}

	// kill -9, then a graceful shutdown: live-restore keeps them running
	// through both, and the new daemon must find them all.
	for _, how := range []string{"kill -9", "graceful"} {
		if stopping.Load() {
			return v
		}
		t0 := time.Now()
		if how == "kill -9" {
			d.kill()
		} else {
			d.stop()
			st.record("scale: graceful shutdown", time.Since(t0), nil, false)
		}
		v += restoreAll(d, st, how, len(made))
	}

	t0 := time.Now()
	parallel(4, len(made), func(i int) {
		ctx, cancel := ctx30()
		defer cancel()
		t := time.Now()
		_, err := d.cli.ContainerRemove(ctx, made[i], client.ContainerRemoveOptions{Force: true})
		st.record("scale: rm -f", time.Since(t), err, err != nil)
	})
	fmt.Printf("torture: scale: rm -f of %d took %s\n", len(made), time.Since(t0).Round(time.Millisecond))
	v += judgeLatency(st, "scale: rm -f", time.Hour)
	return v
}

// restoreAll starts the daemon (live-restore) and times /_ping and the
// moment ps lists all n containers running again.
func restoreAll(d *daemon, st *stats, how string, n int) int {
	ping := "scale: restart after " + how + " → /_ping"
	all := fmt.Sprintf("scale: restart after %s → %d listed running", how, n)
	t0 := time.Now()
	tp, err := d.start(true)
	st.record(ping, tp, err, err != nil)
	if err != nil {
		fmt.Printf("VIOLATION [%s] %v\n", ping, err)
		st.violation(ping)
		return 1
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l, err := d.cli.ContainerList(ctx, client.ContainerListOptions{})
		cancel()
		if err == nil && len(l.Items) == n {
			break
		}
		if time.Since(t0) > time.Minute {
			st.record(all, 0, fmt.Errorf("after a minute: %d of %d running (%v)", len(l.Items), n, err), true)
			return judgeLatency(st, all, restoreLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	tAll := time.Since(t0)
	st.record(all, tAll, nil, false)
	// Listed running is what the data-root says; reattached to every
	// shim is when the daemon logs its restore done.
	restored := "scale: restart after " + how + " → every shim reattached"
	tr, err := d.awaitLog("containers restored", t0, time.Minute)
	st.record(restored, tr, err, err != nil)
	fmt.Printf("torture: scale: restart after %s: /_ping after %s, all %d listed running after %s, every shim reattached after %s\n",
		how, tp.Round(time.Millisecond), n, tAll.Round(time.Millisecond), tr.Round(time.Millisecond))
	return judgeLatency(st, all, restoreLimit) + judgeLatency(st, restored, restoreLimit)
}

// awaitLog waits for a line holding msg in the daemon's log since its
// last start, and returns how long after since it was seen.
func (d *daemon) awaitLog(msg string, since time.Time, timeout time.Duration) (time.Duration, error) {
	for {
		b, _ := os.ReadFile(d.logPath)
		s := string(b)
		if i := strings.LastIndex(s, "\n---- "); i >= 0 {
			s = s[i:]
		}
		if strings.Contains(s, msg) {
			return time.Since(since), nil
		}
		if time.Since(since) > timeout {
			return 0, fmt.Errorf("no %q in the daemon's log after %s", msg, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parallel runs f(0..n-1) on k goroutines; it stops handing out work
// when the run is interrupted.
func parallel(k, n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < k; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopping.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

func kib(n int64) string { return fmt.Sprintf("%.0fK", float64(n)/1024) }
