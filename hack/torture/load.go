package main

// The load scenario (issue #19, "Load"): many API clients at once, each a
// client.Client of its own (its own connections, as separate programs
// would have), running what docker run --rm, exec, logs -f, stats
// --no-stream, ps, inspect and events send. Not 100 docker CLI processes:
// two cores cannot host them and the daemon would be measured behind the
// CLI's own start-up. Each client thinks a little between requests (a
// random pause of up to twice -load-think), as people and scripts do.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// loadLimit is the p99 every request kind must stay under.
const loadLimit = 2 * time.Second

// loadOp is a request kind, a row "load: <name>", with its weight.
type loadOp struct {
	name   string
	weight int
	// f returns the request's latency when it is not the call's
	// duration (a stream's time to its first bytes), else 0.
	f func(*loadRun, *client.Client, *rand.Rand) (time.Duration, error)
}

var loadOps = []loadOp{
	{"run --rm", 3, timed((*loadRun).runRm)},
	{"exec", 3, timed((*loadRun).exec)},
	{"logs -f", 2, (*loadRun).logsFollow},
	{"stats", 2, timed((*loadRun).stats)},
	{"ps", 3, timed((*loadRun).ps)},
	{"inspect", 4, timed((*loadRun).inspect)},
	{"events", 2, timed((*loadRun).events)},
	{"update right after run -d", 1, (*loadRun).updateAfterRun},
}

// timed adapts a request whose latency is the call's duration.
func timed(f func(*loadRun, *client.Client, *rand.Rand) error) func(*loadRun, *client.Client, *rand.Rand) (time.Duration, error) {
	return func(l *loadRun, c *client.Client, rng *rand.Rand) (time.Duration, error) { return 0, f(l, c, rng) }
}

type loadRun struct {
	d       *daemon
	ids     *idSet
	st      *stats
	targets []string // long-running containers that exec, logs, stats and inspect use
	pause   sync.RWMutex
}

// runLoad runs the scenario for dur with n clients; it returns the
// number of violations.
func runLoad(bin, root string, st *stats, n int, dur time.Duration, think time.Duration, seed uint64) int {
	fmt.Printf("torture: load: %d clients for %s\n", n, dur)
	d, ids, cleanup, err := scenarioDaemon(bin, root, "load", false)
	if err != nil {
		return setupFailed(st, "load", err)
	}
	defer cleanup()
	l := &loadRun{d: d, ids: ids, st: st}
	for i := 0; i < 8; i++ {
		id, err := l.start(d.cli, fmt.Sprintf("tt-load-target%d", i), "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done")
		if err != nil {
			fmt.Println("torture: load: target:", err)
			st.violation("load: setup")
			return 1
		}
		l.targets = append(l.targets, id)
	}
	clis := make([]*client.Client, n)
	for i := range clis {
		if clis[i], err = client.New(client.WithHost("unix://"+d.sock), client.WithAPIVersionNegotiation()); err != nil {
			fmt.Println("torture: load:", err)
			return 1
		}
		defer clis[i].Close()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clis {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.client(c, rand.New(rand.NewPCG(seed, uint64(i))), think, stop)
		}()
	}
	// The daemon after warm-up and at the end, each time with every
	// client paused between requests and idle connections closed.
	warm := dur / 4
	sleepUnlessStopping(warm)
	l.pause.Lock()
	before := d.settle(clis...)
	g0 := goroutines(d)
	l.pause.Unlock()
	cpu0, t0 := cpuTime(d.pid()), time.Now()
	sleepUnlessStopping(dur - warm)
	cpu1, t1 := cpuTime(d.pid()), time.Now()
	close(stop)
	wg.Wait()
	after := d.settle(clis...)
	g1 := goroutines(d)
	st.growth("load: daemon", before, after)
	st.run("load: daemon")
	fmt.Printf("torture: load: the daemon used %.2f CPUs after warm-up\n", float64(cpu1-cpu0)/float64(t1.Sub(t0)))
	fmt.Printf("torture: load: daemon after warm-up RSS %s, %d fds, %d goroutines; at the end RSS %s, %d fds, %d goroutines\n",
		mib(before.rss), before.fds, g0, mib(after.rss), after.fds, g1)
	v := 0
	for _, op := range loadOps {
		v += judgeLatency(st, "load: "+op.name, loadLimit)
	}
	if notFlat(before, after) {
		fmt.Printf("VIOLATION [load: daemon] not flat after warm-up: RSS %s → %s, fds %d → %d\n", mib(before.rss), mib(after.rss), before.fds, after.fds)
		st.violation("load: daemon")
		v++
	}
	return v
}

// notFlat is growth beyond noise: RSS up by more than 10%, or fds by
// more than 10% plus a handful (a connection the daemon has yet to see
// closed).
func notFlat(a, b procSample) bool {
	return b.rss > a.rss+a.rss/10 || b.fds > a.fds+a.fds/10+5
}

func sleepUnlessStopping(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end) && !stopping.Load(); {
		time.Sleep(min(time.Until(end), 500*time.Millisecond))
	}
}

// client runs random requests until stop is closed.
func (l *loadRun) client(c *client.Client, rng *rand.Rand, think time.Duration, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		if think > 0 {
			time.Sleep(time.Duration(rng.Int64N(int64(2 * think))))
		}
		op := pickWeighted(loadOps, func(o loadOp) int { return o.weight }, rng.IntN)
		l.pause.RLock()
		t0 := time.Now()
		lat, err := op.f(l, c, rng)
		if lat == 0 {
			lat = time.Since(t0)
		}
		// Every request here is on an object that exists and in the
		// state it needs: any error is one dockerd would not give.
		l.st.record("load: "+op.name, lat, err, err != nil)
		l.pause.RUnlock()
	}
}

func (l *loadRun) target(rng *rand.Rand) string { return l.targets[rng.IntN(len(l.targets))] }

// start creates and starts a container of cmd (no network) named name.
func (l *loadRun) start(c *client.Client, name string, cmd ...string) (string, error) {
	ctx, cancel := ctx30()
	defer cancel()
	r, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name,
		Config:     &container.Config{Image: baseImage, Cmd: cmd, StopTimeout: one()},
		HostConfig: &container.HostConfig{NetworkMode: "none"}})
	if err != nil {
		return "", err
	}
	l.ids.add(r.ID)
	_, err = c.ContainerStart(ctx, r.ID, client.ContainerStartOptions{})
	return r.ID, err
}

// runRm is docker run --rm busybox true: create, wait for removal, start.
func (l *loadRun) runRm(c *client.Client, rng *rand.Rand) error {
	ctx, cancel := ctx30()
	defer cancel()
	return runRm(ctx, c, l.ids, client.ContainerCreateOptions{
		Config:     &container.Config{Image: baseImage, Cmd: []string{"true"}},
		HostConfig: &container.HostConfig{AutoRemove: true}}, func() {})
}

// exec is docker exec (attached): create, start on a hijacked
// connection, read to the end, inspect the exit code.
func (l *loadRun) exec(c *client.Client, rng *rand.Rand) error {
	ctx, cancel := ctx30()
	defer cancel()
	e, err := c.ExecCreate(ctx, l.target(rng), client.ExecCreateOptions{Cmd: []string{"echo", "hi"}, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return err
	}
	a, err := c.ExecAttach(ctx, e.ID, client.ExecAttachOptions{})
	if err != nil {
		return err
	}
	b, err := io.ReadAll(a.Reader)
	a.Close()
	if err != nil {
		return err
	}
	r, err := c.ExecInspect(ctx, e.ID, client.ExecInspectOptions{})
	if err != nil {
		return err
	}
	if r.ExitCode != 0 || len(b) == 0 {
		return fmt.Errorf("exec echo hi: exit status %d, %d bytes of output", r.ExitCode, len(b))
	}
	return nil
}

// logsFollow is docker logs -f --tail 5, followed for up to 3 s; its
// latency is the time to the first bytes.
func (l *loadRun) logsFollow(c *client.Client, rng *rand.Rand) (time.Duration, error) {
	ctx, cancel := ctx30()
	defer cancel()
	t0 := time.Now()
	r, err := c.ContainerLogs(ctx, l.target(rng), client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Tail: "5"})
	if err != nil {
		return 0, err
	}
	defer r.Close()
	buf := make([]byte, 4096)
	if _, err := r.Read(buf); err != nil {
		return 0, fmt.Errorf("logs -f: first read: %w", err)
	}
	lat := time.Since(t0)
	for end := time.Now().Add(time.Duration(rng.Int64N(int64(3 * time.Second)))); time.Now().Before(end); {
		if _, err := r.Read(buf); err != nil {
			return lat, fmt.Errorf("logs -f of a running container ended: %w", err)
		}
	}
	return lat, nil
}

// stats is docker stats --no-stream: one record with the previous sample.
func (l *loadRun) stats(c *client.Client, rng *rand.Rand) error {
	ctx, cancel := ctx30()
	defer cancel()
	r, err := c.ContainerStats(ctx, l.target(rng), client.ContainerStatsOptions{IncludePreviousSample: true})
	if err != nil {
		return err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err == nil && len(b) == 0 {
		err = fmt.Errorf("stats: empty answer")
	}
	return err
}

func (l *loadRun) ps(c *client.Client, rng *rand.Rand) error {
	ctx, cancel := ctx30()
	defer cancel()
	_, err := c.ContainerList(ctx, client.ContainerListOptions{})
	return err
}

func (l *loadRun) inspect(c *client.Client, rng *rand.Rand) error {
	ctx, cancel := ctx30()
	defer cancel()
	r, err := c.ContainerInspect(ctx, l.target(rng), client.ContainerInspectOptions{})
	if err == nil && (r.Container.State == nil || !r.Container.State.Running) {
		err = fmt.Errorf("inspect: a target is not running")
	}
	return err
}

// events is docker events --since 10s --until now: the recent past,
// read to the end of the stream.
func (l *loadRun) events(c *client.Client, rng *rand.Rand) error {
	ctx, cancel := ctx30()
	defer cancel()
	now := time.Now()
	r := c.Events(ctx, client.EventsListOptions{Since: fmt.Sprint(now.Add(-10 * time.Second).Unix()), Until: fmt.Sprint(now.Unix())})
	for {
		select {
		case <-r.Messages:
		case err := <-r.Err:
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// updateAfterRun is the race: docker run -d, at once docker
// update -m 96m --memory-swap 192m, then rm -f.
// Its latency is the update's: the run before it is three requests.
func (l *loadRun) updateAfterRun(c *client.Client, rng *rand.Rand) (time.Duration, error) {
	return runThenUpdate(c, l.ids, &container.HostConfig{NetworkMode: "none"})
}

// runThenUpdate is docker run -d busybox sleep 100 (with hc), then at
// once docker update -m 96m --memory-swap 192m, then rm -f. The update
// once answered "cgroups: no cgroup v1 controller is mounted" (the
// daemon's main thread parked in a container file system view's mount
// namespace, where /proc/self/mountinfo lists no cgroup mount).
// It returns how long the update took.
func runThenUpdate(c *client.Client, ids *idSet, hc *container.HostConfig) (time.Duration, error) {
	ctx, cancel := ctx30()
	defer cancel()
	r, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: baseImage, Cmd: []string{"sleep", "100"}, StopTimeout: one()}, HostConfig: hc})
	if err != nil {
		return 0, err
	}
	ids.add(r.ID)
	defer c.ContainerRemove(context.Background(), r.ID, client.ContainerRemoveOptions{Force: true})
	if _, err := c.ContainerStart(ctx, r.ID, client.ContainerStartOptions{}); err != nil {
		return 0, err
	}
	t0 := time.Now()
	_, err = c.ContainerUpdate(ctx, r.ID, client.ContainerUpdateOptions{Resources: &container.Resources{Memory: 96 << 20, MemorySwap: 192 << 20}})
	return time.Since(t0), err
}
