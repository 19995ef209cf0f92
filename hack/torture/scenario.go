package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// The load, scale and soak scenarios each run their own berthd on roots
// of their own (under the run's root, data-root on the host's file
// system: they measure, they do not fill disks), one after the other.

// keepScenarioRoots leaves each scenario's root (its daemon's log) in
// place at its end (-keep).
var keepScenarioRoots bool

// current is the scenario daemon running now, for the interrupt handler.
var current struct {
	mu sync.Mutex
	d  *daemon
}

// scenarioDaemon starts a berthd for scenario name under root with the
// busybox image loaded. The caller ends it with its cleanup.
func scenarioDaemon(bin, root, name string, liveRestore bool, extra ...string) (*daemon, *idSet, func(), error) {
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, err
	}
	d := newDaemon(bin, dir, "")
	// Not the crash campaign's bridge name: its bridge may still be
	// there when a scenario starts.
	d.bridge = fmt.Sprintf("bt%s%d", name[:2], os.Getpid()%100000)
	d.extraArgs = extra
	ids := &idSet{}
	current.mu.Lock()
	current.d = d
	current.mu.Unlock()
	cleanup := func() {
		d.cleanup(ids, keepScenarioRoots)
		current.mu.Lock()
		current.d = nil
		current.mu.Unlock()
	}
	if _, err := d.start(liveRestore); err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	if err := loadBusybox(d); err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return d, ids, cleanup, nil
}

// loadBusybox loads the project's busybox test image as baseImage.
func loadBusybox(d *daemon) error {
	archive, err := writeBusybox(d.root, baseImage)
	if err != nil {
		return err
	}
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, cancel := ctx30()
	defer cancel()
	r, err := d.cli.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
	if err != nil {
		return err
	}
	defer r.Close()
	out := new(strings.Builder)
	buf := make([]byte, 4096)
	for {
		n, e := r.Read(buf)
		out.Write(buf[:n])
		if e != nil {
			break
		}
	}
	if strings.Contains(out.String(), `"error"`) {
		return fmt.Errorf("load: %s", out)
	}
	return nil
}

// judgeLatency turns a row's unexpected errors into violations and adds
// one when its p99 is above limit; it returns the row's violations.
func judgeLatency(st *stats, name string, limit time.Duration) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.row(name)
	v := r.errors
	if p := pctDur(r.lat, 0.99); p > limit {
		fmt.Printf("VIOLATION [%s] p99 %s > %s\n", name, p.Round(time.Millisecond), limit)
		v++
	}
	r.violations += v
	return v
}

// scenarios are the flags of the campaign's scenarios beside the crash
// one, with the short form's defaults or (TORTURE=long) the long one's.
type scenarios struct {
	list                *string
	loadClients         *int
	loadTime, loadThink *time.Duration
	scale               *int
	soakTime, soakEvery *time.Duration
}

func scenarioFlags(long bool) *scenarios {
	loadTime, scale, soakTime := time.Minute, 100, 3*time.Minute
	if long {
		loadTime, scale, soakTime = 10*time.Minute, 1000, 30*time.Minute
	}
	return &scenarios{
		list:        flag.String("scenarios", "crash,load,scale,soak", "the scenarios to run, comma-separated"),
		loadClients: flag.Int("load-clients", 100, "load: API clients in parallel"),
		loadTime:    flag.Duration("load-time", loadTime, "load: how long (TORTURE=long: 10m)"),
		loadThink:   flag.Duration("load-think", 250*time.Millisecond, "load: a client's mean pause between requests"),
		scale:       flag.Int("scale", scale, "scale: running containers (TORTURE=long: 1000)"),
		soakTime:    flag.Duration("soak-time", soakTime, "soak: how long (TORTURE=long: 30m)"),
		soakEvery:   flag.Duration("soak-every", time.Minute, "soak: time between leak checks; the first is the baseline"),
	}
}

func (s *scenarios) want(name string) bool {
	for _, n := range strings.Split(*s.list, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// run runs the load, scale and soak scenarios that were asked for, in
// that order, and returns their violations.
func (s *scenarios) run(bin, root string, st *stats, seed uint64) int {
	v := 0
	if s.want("load") && !stopping.Load() {
		v += runLoad(bin, root, st, *s.loadClients, *s.loadTime, *s.loadThink, seed)
	}
	if s.want("scale") && !stopping.Load() {
		v += runScale(bin, root, st, *s.scale)
	}
	if s.want("soak") && !stopping.Load() {
		v += runSoak(bin, root, st, *s.soakTime, *s.soakEvery, 3, seed)
	}
	return v
}

// setupFailed records that scenario could not start: one violation.
func setupFailed(st *stats, scenario string, err error) int {
	fmt.Printf("VIOLATION [%s: setup] %v\n", scenario, err)
	st.violation(scenario + ": setup")
	return 1
}
