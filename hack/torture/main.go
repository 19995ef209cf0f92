package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

func main() {
	long := os.Getenv("TORTURE") == "long"
	defRounds := 25
	if long {
		defRounds = 1000
	}
	bin := flag.String("berthd", "bin/berthd", "berthd binary to torture")
	rounds := flag.Int("rounds", defRounds, "kill/restart rounds (TORTURE=long: 1000)")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed, to replay a run)")
	workers := flag.Int("workers", 3, "workload goroutines")
	maxRun := flag.Duration("max-run", 2*time.Second, "longest workload before a kill")
	keep := flag.Bool("keep", false, "keep the run's root (log, data-root) at the end")
	diskMiB := flag.Int("disk", 512, "data-root on a loop-mounted ext4 of this many MiB (0: on the host's file system, never full)")
	flag.StringVar(&pool, "pool", pool, "address pool of the daemon's networks; another run on the host needs another")
	fullEvery := flag.Int("full-every", 4, "with -disk, fill the data-root in one round out of this many on average")
	sc := scenarioFlags(long)
	flag.Parse()
	if _, err := netip.ParsePrefix(pool); err != nil {
		fatal(fmt.Errorf("-pool: %w", err))
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "torture needs root")
		os.Exit(2)
	}
	b, err := filepath.Abs(*bin)
	if err != nil {
		fatal(err)
	}
	root, err := os.MkdirTemp("", "berth-torture-")
	if err != nil {
		fatal(err)
	}
	fmt.Printf("torture: seed %d, %d rounds, %d workers, root %s\n", *seed, *rounds, *workers, root)
	var dk *disk
	dataRoot := ""
	if *diskMiB > 0 {
		if dk, err = newDisk(root, int64(*diskMiB)<<20); err != nil {
			os.RemoveAll(root)
			fatal(err)
		}
		dataRoot = dk.dataRoot()
	}
	d := newDaemon(b, root, dataRoot)
	ids := &idSet{}
	st := &stats{}
	w := newWorld(d, st, ids, *seed)
	w.disk, w.fullEvery = dk, max(*fullEvery, 1)

	// The crash campaign's cleanup keeps the root: the other scenarios
	// run under it afterwards, and finish removes it.
	var once sync.Once
	done := func() { once.Do(func() { d.cleanup(ids, true) }) }
	finish := func() {
		done()
		if !*keep {
			os.RemoveAll(root)
		}
	}
	defer finish()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	finished := make(chan struct{})
	go func() {
		<-sigs
		fmt.Println("torture: interrupted, cleaning up")
		// The campaign stops at its next step and starts no daemon again;
		// the cleanup runs once it has (or after a minute regardless).
		stopping.Store(true)
		w.dead.Store(true)
		w.epoch.Add(1)
		d.kill()
		current.mu.Lock()
		if current.d != nil {
			current.d.kill()
		}
		current.mu.Unlock()
		select {
		case <-finished:
		case <-time.After(time.Minute):
		}
		finish()
		os.Exit(130)
	}()

	var violations int
	switch {
	case *pointsMode:
		violations = runPoints(w)
	case sc.want("crash"):
		violations = run(w, *rounds, *workers, *maxRun)
	}
	if !*pointsMode {
		done()
		keepScenarioRoots = *keep
		violations += sc.run(b, root, st, *seed)
	}
	if stopping.Load() {
		close(finished)
		select {} // the signal handler cleans up and exits
	}
	if !*pointsMode {
		report(st)
	}
	if *keep {
		fmt.Printf("torture: root kept at %s\n", root)
		if dk != nil {
			fmt.Printf("torture: the data-root is on %s/disk.img (mount -o loop to look)\n", root)
		}
	}
	finish()
	if violations > 0 {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "torture:", err)
	os.Exit(2)
}

// run is the campaign; it returns the number of violations.
func run(w *world, rounds, workers int, maxRun time.Duration) int {
	d := w.d
	if _, err := d.start(w.intn(2) == 0); err != nil {
		fmt.Println("torture:", err)
		return 1
	}
	if err := setup(w); err != nil {
		fmt.Println("torture: setup:", err)
		return 1
	}
	containersDir := filepath.Join(d.dataRoot, "containers")
	for round := 1; round <= rounds && !stopping.Load(); round++ {
		// Pinned containers, to see what live-restore (or its absence) does.
		pinned := map[string]int{}
		ctx, cancel := ctx30()
		for id, o := range w.conts {
			if !o.pinned {
				continue
			}
			r, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
			if err == nil && !r.Container.State.Running {
				d.cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
				r, err = d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
			}
			if err == nil && r.Container.State.Running {
				pinned[id] = r.Container.State.Pid
			}
		}
		cancel()

		// A full-disk round: the workload meets ENOSPC (taken as an
		// answer any engine gives), the kill comes on the full disk, and
		// the space is back before the restart and the checks.
		full := w.disk != nil && w.intn(w.fullEvery) == 0
		if full {
			// Mostly nothing left, at times a little: then some writes
			// fit and the next ones do not.
			leave := []int64{0, 0, 64 << 10, 1 << 20}[w.intn(4)]
			if err := w.disk.fill(leave); err != nil {
				fmt.Println("torture: fill:", err)
				return 1
			}
			w.st.run("full disk round")
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < workers; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); w.worker(stop) }()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					w.ids.sampleDir(containersDir)
				}
			}
		}()
		time.Sleep(time.Duration(100+w.intn(int(maxRun/time.Millisecond))) * time.Millisecond)
		// The daemon's restart decides whether it keeps what runs.
		live := d.liveRestore
		w.dead.Store(true)
		w.epoch.Add(1)
		if w.intn(4) == 0 {
			// A crash during the daemon's own shutdown. Without
			// live-restore the shutdown stops the containers, as far as
			// it got: the pinned ones prove nothing then.
			d.killDuringStop(time.Duration(w.intn(800)) * time.Millisecond)
			w.st.run("SIGKILL during shutdown")
			if !live {
				pinned = map[string]int{}
			}
		} else {
			d.kill()
			w.st.run("SIGKILL berthd")
		}
		close(stop)
		wg.Wait()
		if full {
			if err := w.disk.unfill(); err != nil {
				fmt.Println("torture: unfill:", err)
				return 1
			}
		}
		w.ids.sampleDir(containersDir)
		live = w.intn(2) == 0
		if stopping.Load() {
			break
		}
		t, err := d.start(live)
		w.dead.Store(false)
		w.st.record("daemon restart", t, err, err != nil)
		if err != nil {
			w.st.violation("daemon restart")
			fmt.Printf("VIOLATION round %d [daemon restart] %v\n%s\n", round, err, d.logTail(30))
			return countViolations(w.st)
		}
		w.check(round, pinned, live)
		fmt.Printf("torture: round %d/%d done (live-restore %v), %d violations so far\n", round, rounds, live, countViolations(w.st))
	}
	if stopping.Load() {
		return 0
	}
	// Daemon shutdown itself, then a last start and check.
	t0 := time.Now()
	d.stop()
	w.st.record("daemon shutdown", time.Since(t0), nil, false)
	if _, err := d.start(d.liveRestore); err != nil {
		w.st.violation("daemon restart")
		fmt.Printf("VIOLATION after shutdown [daemon restart] %v\n", err)
	} else {
		w.check(rounds+1, map[string]int{}, d.liveRestore)
	}
	return countViolations(w.st)
}

// setup loads the busybox image and starts the pinned containers.
func setup(w *world) error {
	if err := loadBusybox(w.d); err != nil {
		return err
	}
	return startPinned(w)
}

// startPinned starts the containers the workload leaves alone, one
// without a restart policy and one with always.
func startPinned(w *world) error {
	d := w.d
	ctx, cancel := ctx30()
	defer cancel()
	for _, pol := range []container.RestartPolicyMode{container.RestartPolicyDisabled, container.RestartPolicyAlways} {
		name := "tt-pinned-" + string(pol)
		c, err := d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name,
			Config:     &container.Config{Image: baseImage, Cmd: []string{"sleep", "100000"}, StopTimeout: one()},
			HostConfig: &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: pol}}})
		if err != nil {
			return err
		}
		if _, err := d.cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
			return err
		}
		o := w.addContainer(c.ID, name, "bridge")
		o.pinned, o.restart, o.running = true, string(pol), true
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func countViolations(st *stats) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, r := range st.rows {
		n += r.violations
	}
	return n
}

func pct(ds []time.Duration, p float64) string {
	if len(ds) == 0 {
		return "-"
	}
	return pctDur(ds, p).Round(100 * time.Microsecond).String()
}

// pctDur is the p-th percentile of ds (0 when empty).
func pctDur(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

// report prints the table: one row per operation and per check.
func report(st *stats) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var names []string
	for n := range st.rows {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		ci, cj := strings.HasPrefix(names[i], "check: "), strings.HasPrefix(names[j], "check: ")
		if ci != cj {
			return cj
		}
		return names[i] < names[j]
	})
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\truns\terrors\tviolations\tp50\tp99\tRSS growth\tfd growth\t")
	total := 0
	for _, n := range names {
		r := st.rows[n]
		total += r.violations
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", n, r.runs, r.errors, r.violations, pct(r.lat, 0.5), pct(r.lat, 0.99), dash(r.rss), dash(r.fds))
	}
	tw.Flush()
	fmt.Printf("total violations: %d\n", total)
	for _, n := range names {
		r := st.rows[n]
		for m, c := range r.msgs {
			fmt.Printf("  unexpected error in %s (x%d): %s\n", n, c, m)
		}
	}
}

var _ = context.Background
var _ = rand.N[int]
