package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berthd/berth/pkg/faultpoint"
)

// The named-point mode (-points): berthd built with the berth_faults tag,
// and for every fault point (pkg/faultpoint) one round that arms it
// through BERTH_FAULT, runs the operation that reaches it, restarts the
// daemon unarmed and checks the same invariants as a random kill.
var (
	pointsMode  = flag.Bool("points", false, "kill at every named fault point instead of at random instants (builds berthd with -tags berth_faults)")
	pointFilter = flag.String("point", "", "with -points: only the points whose name matches this regexp")
)

// pointCase is one fault point and how to reach it.
type pointCase struct {
	name string
	// dies is the process the point kills: "daemon", or "shim" or
	// "stage" (on the containers' side: the daemon must live on).
	dies string
	// notLive arms a daemon without live-restore.
	notLive bool
	// prep makes what op needs, on the unarmed daemon; prepArmed runs it
	// on the armed one instead (a point that only op can reach, under a
	// daemon whose restore would undo what an earlier daemon made).
	prep      func(w *world, p *pointRun) error
	prepArmed bool
	// down runs while no daemon runs, between prep and the armed start.
	down func(w *world, p *pointRun)
	// op reaches the point; nil when the armed daemon's start does.
	op func(ctx context.Context, w *world, p *pointRun) error
	// expect checks what the unarmed daemon reports afterwards, beyond
	// the campaign's invariants; opErr is op's answer.
	expect func(ctx context.Context, w *world, p *pointRun, opErr error) error
}

// pointRun holds the objects of one point's round.
type pointRun struct {
	c, c2 *obj
	n     *obj
	v     *obj
	img   *obj
	pid   int // c's init, when prep started it
	// layers is how many layers the store held before prep.
	layers int
}

func (p *pointRun) objs() []*obj {
	var out []*obj
	for _, o := range []*obj{p.c, p.c2, p.n, p.v, p.img} {
		if o != nil {
			out = append(out, o)
		}
	}
	return out
}

// runPoints is the -points campaign; it returns the number of violations.
func runPoints(w *world) int {
	d := w.d
	re, err := regexp.Compile(*pointFilter)
	if err != nil {
		fmt.Println("torture: -point:", err)
		return 1
	}
	fb := filepath.Join(d.root, "berthd-faults")
	fmt.Println("torture: building berthd with -tags berth_faults")
	build := exec.Command("go", "build", "-tags", "berth_faults", "-o", fb, "./cmd/berthd")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Println("torture: build:", err)
		return 1
	}
	d.bin = fb
	if _, err := d.start(true); err != nil {
		fmt.Println("torture:", err)
		return 1
	}
	if err := setup(w); err != nil {
		fmt.Println("torture: setup:", err)
		return 1
	}
	var rows []pointRow
	round := 0
	for _, pc := range pointCases {
		if !re.MatchString(pc.name) || stopping.Load() {
			continue
		}
		round++
		row := w.runPoint(round, pc)
		rows = append(rows, row)
		fmt.Printf("torture: point %s: %s, %d violations\n", pc.name, row.outcome, row.violations)
		if row.fatal {
			break
		}
	}
	if stopping.Load() {
		return 0
	}
	return reportPoints(rows, w.st)
}

// pointRow is one line of the -points table.
type pointRow struct {
	name, dies, outcome string
	violations          int
	lat                 time.Duration
	fatal               bool // no daemon could be started again
}

// runPoint arms one point, reaches it, restarts and checks.
func (w *world) runPoint(round int, pc pointCase) (row pointRow) {
	d := w.d
	row = pointRow{name: pc.name, dies: pc.dies}
	before := countViolations(w.st)
	defer func() { row.violations = countViolations(w.st) - before }()
	bad := func(check, format string, args ...any) {
		w.violate(round, "point "+pc.name+": "+check, format, args...)
	}
	p := &pointRun{}
	// An operation that hangs is a finding; a minute tells it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if pc.prep != nil && !pc.prepArmed {
		if err := pc.prep(w, p); err != nil {
			row.outcome = "prep failed: " + err.Error()
			bad("prep", "%v", err)
			return row
		}
	}
	// Pinned containers must outlive the point when both daemons keep
	// what runs.
	pinned := map[string]int{}
	if !pc.notLive {
		for id, o := range w.conts {
			if !o.pinned {
				continue
			}
			if r, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err == nil && r.Container.State.Running {
				pinned[id] = r.Container.State.Pid
			}
		}
	}
	d.kill()
	if pc.down != nil {
		pc.down(w, p)
	}
	// The daemon is this harness's only child being started now: the
	// variable goes to it (and, through it, to its shims and stages) and
	// is gone again before anything else starts.
	os.Setenv(faultpoint.EnvVar, pc.name)
	_, startErr := d.start(!pc.notLive)
	os.Unsetenv(faultpoint.EnvVar)
	var opErr error
	if startErr == nil {
		if pc.prep != nil && pc.prepArmed {
			if err := pc.prep(w, p); err != nil {
				row.outcome = "prep failed: " + err.Error()
				bad("prep", "%v", err)
				d.kill()
				return row.restart(w, round)
			}
		}
		if pc.op != nil {
			t0 := time.Now()
			opErr = pc.op(ctx, w, p)
			row.lat = time.Since(t0)
		}
	}
	wait := time.Second
	if pc.dies == "daemon" {
		wait = 20 * time.Second
	}
	died := d.awaitDeath(wait)
	hit := strings.Contains(d.logTail(400), "faultpoint: "+pc.name+" hit")
	switch {
	case pc.dies == "daemon" && !died:
		bad("not reached", "the daemon lives on (op: %v)", opErr)
		row.outcome = "NOT REACHED"
	case pc.dies == "daemon" && !hit:
		bad("not reached", "the daemon died, but not at the point (start: %v, op: %v); log:\n%s", startErr, opErr, d.logTail(20))
		row.outcome = "died elsewhere"
	case pc.dies != "daemon" && died:
		bad("daemon died", "at a %s point; log:\n%s", pc.dies, d.logTail(20))
		row.outcome = "DAEMON DIED"
	case pc.dies == "daemon":
		row.outcome = "daemon killed"
	default:
		row.outcome = pc.dies + " killed"
	}
	if died {
		w.mu.Lock()
		for _, o := range p.objs() {
			o.uncertain = true
		}
		w.mu.Unlock()
	}
	w.st.run("point " + pc.name)
	d.kill()
	row = row.restart(w, round)
	if row.fatal {
		return row
	}
	if pc.expect != nil {
		ectx, ecancel := ctx30()
		err := pc.expect(ectx, w, p, opErr)
		ecancel()
		if err != nil {
			bad("outcome", "%v", err)
		}
	}
	w.ids.sampleDir(filepath.Join(d.dataRoot, "containers"))
	w.check(round, pinned, true)
	return row
}

// restart starts the unarmed daemon (live-restore on) after a point.
func (row pointRow) restart(w *world, round int) pointRow {
	if _, err := w.d.start(true); err != nil {
		w.st.violation("daemon restart")
		fmt.Printf("VIOLATION round %d [daemon restart after %s] %v\n%s\n", round, row.name, err, w.d.logTail(30))
		row.fatal = true
	}
	return row
}

// awaitDeath reports whether the daemon exits within timeout; a dead
// daemon is forgotten, so that kill never signals a PID that was reused.
func (d *daemon) awaitDeath(timeout time.Duration) bool {
	d.mu.Lock()
	exited := d.exited
	d.mu.Unlock()
	if exited == nil {
		return true
	}
	select {
	case <-exited:
		d.mu.Lock()
		d.cmd = nil
		d.mu.Unlock()
		return true
	case <-time.After(timeout):
		return false
	}
}

// reportPoints prints one row per point and the check rows, and returns
// the number of violations.
func reportPoints(rows []pointRow, st *stats) int {
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "point\tkills\toutcome\tviolations\top latency\t")
	for _, r := range rows {
		lat := "-"
		if r.lat > 0 {
			lat = r.lat.Round(100 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t\n", r.name, r.dies, r.outcome, r.violations, lat)
	}
	tw.Flush()
	report(st)
	return countViolations(st)
}

// waitExited waits for container o to stop running and returns its
// inspect.
func waitExited(ctx context.Context, w *world, id string) (container.InspectResponse, error) {
	for {
		r, err := w.d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			return r.Container, err
		}
		if !r.Container.State.Running && !r.Container.State.Restarting {
			return r.Container, nil
		}
		select {
		case <-ctx.Done():
			return r.Container, fmt.Errorf("container %.12s still running", id)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// killProc SIGKILLs pid and its shim (its parent), by PID.
func killWithShim(pid int) {
	if pid <= 0 {
		return
	}
	if shim := parentOf(pid); shim > 1 {
		syscall.Kill(shim, syscall.SIGKILL)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// parentOf is pid's parent from /proc, 0 when unknown.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	var ppid int
	if len(f) > 1 {
		fmt.Sscan(f[1], &ppid)
	}
	return ppid
}

// syscallTerm sends SIGTERM to pid (the daemon's), as a service manager
// stopping it would.
func syscallTerm(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("no daemon")
	}
	return syscall.Kill(pid, syscall.SIGTERM)
}
