package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

const baseImage = "busybox:latest"

// stat is one row of the final table.
type stat struct {
	runs, errors, violations int
	lat                      []time.Duration
	msgs                     map[string]int // distinct unexpected errors
	rss, fds                 string         // the daemon's growth over the scenario, where measured
}

type stats struct {
	mu   sync.Mutex
	rows map[string]*stat
}

func (s *stats) row(name string) *stat {
	if s.rows == nil {
		s.rows = map[string]*stat{}
	}
	r := s.rows[name]
	if r == nil {
		r = &stat{msgs: map[string]int{}}
		s.rows[name] = r
	}
	return r
}

func (s *stats) record(name string, d time.Duration, err error, unexpected bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.row(name)
	r.runs++
	if err == nil {
		r.lat = append(r.lat, d)
	} else if unexpected {
		r.errors++
		m := err.Error()
		if len(m) > 160 {
			m = m[:160]
		}
		r.msgs[m]++
	}
}

func (s *stats) violation(name string) {
	s.mu.Lock()
	s.row(name).violations++
	s.mu.Unlock()
}

// growth records how the daemon's RSS and fd count moved between two
// samples (after warm-up and at the end) on the scenario's row.
func (s *stats) growth(name string, a, b procSample) {
	s.mu.Lock()
	r := s.row(name)
	r.rss, r.fds = growth(a.rss, b.rss, mib), growth(int64(a.fds), int64(b.fds), count)
	s.mu.Unlock()
}

// latencies is a copy of a row's latencies.
func (s *stats) latencies(name string) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.row(name).lat...)
}

func (s *stats) run(name string) {
	s.mu.Lock()
	s.row(name).runs++
	s.mu.Unlock()
}

// obj is the model of one container, network, volume or image tag: what
// the API acknowledged about it. uncertain marks an object an operation
// was on when the daemon died: its outcome is not known.
type obj struct {
	id, name  string
	exists    bool
	uncertain bool
	busy      bool
	running   bool            // containers: last acknowledged start, roughly
	short     bool            // containers whose command ends by itself
	nets      map[string]bool // containers: acknowledged connections
	pinned    bool            // containers the workload leaves alone
	restart   string
	hist      []string // the operations on it, for a violation's report
}

// world is the model and the workload's shared state.
type world struct {
	d     *daemon
	st    *stats
	ids   *idSet
	rng   *rand.Rand
	rngMu sync.Mutex

	mu        sync.Mutex
	prune     sync.RWMutex    // an op holds it shared, a prune exclusively
	conts     map[string]*obj // by ID
	nets      map[string]*obj // by name
	vols      map[string]*obj
	imgs      map[string]*obj // by reference
	seq       int
	disk      *disk        // the data-root's own file system; nil without -disk
	fullEvery int          // a round fills it with a chance of one in fullEvery
	epoch     atomic.Int64 // bumped before each kill
	dead      atomic.Bool  // set from just before a kill until the restart
	prefix    string       // of its rows in the table ("soak: "), "" in the crash campaign
	more      []weightedOp // operations beside ops (the soak's build and pull)
	pullRef   string       // the soak's image in its registry
}

func newWorld(d *daemon, st *stats, ids *idSet, seed uint64) *world {
	return &world{d: d, st: st, ids: ids, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		conts: map[string]*obj{}, nets: map[string]*obj{}, vols: map[string]*obj{}, imgs: map[string]*obj{}}
}

func (w *world) intn(n int) int {
	w.rngMu.Lock()
	defer w.rngMu.Unlock()
	return w.rng.IntN(n)
}

func (w *world) next(prefix string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	return fmt.Sprintf("tt-%s%d", prefix, w.seq)
}

// pick takes a random idle object of m that exists (per the model) and
// marks it busy; nil when there is none.
func (w *world) pick(m map[string]*obj, filter func(*obj) bool) *obj {
	w.mu.Lock()
	defer w.mu.Unlock()
	var c []*obj
	for _, o := range m {
		if o.exists && !o.busy && !o.pinned && (filter == nil || filter(o)) {
			c = append(c, o)
		}
	}
	if len(c) == 0 {
		return nil
	}
	sort.Slice(c, func(i, j int) bool { return c[i].name < c[j].name })
	o := c[w.intn(len(c))]
	o.busy = true
	return o
}

func (w *world) release(o *obj) {
	w.mu.Lock()
	o.busy = false
	w.mu.Unlock()
}

// call times one API call as scenario name. It reports whether the call
// was acknowledged, and marks the objects uncertain when the daemon died
// under it.
func (w *world) call(name string, f func(ctx context.Context) error, objs ...*obj) bool {
	if w.dead.Load() {
		// Between the kill and the end of the round: not a call at all.
		return false
	}
	name = w.prefix + name
	ep := w.epoch.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 := time.Now()
	err := f(ctx)
	d := time.Since(t0)
	if err != nil && w.epoch.Load() != ep {
		// The daemon was killed under the call: not acknowledged, not an error.
		w.st.record(name, d, err, false)
		w.mu.Lock()
		for _, o := range objs {
			if o != nil {
				o.uncertain = true
				o.hist = append(o.hist, fmt.Sprintf("%s %s: killed", t0.Format("15:04:05.000"), name))
			}
		}
		w.mu.Unlock()
		return false
	}
	w.st.record(name, d, err, err != nil && !expected(err))
	if err != nil && strings.Contains(err.Error(), noSpace) {
		w.st.run("full disk: ENOSPC answers")
	}
	w.mu.Lock()
	for _, o := range objs {
		if o != nil {
			r := "ok"
			if err != nil {
				r = err.Error()
			}
			o.hist = append(o.hist, fmt.Sprintf("%s %s: %s", t0.Format("15:04:05.000"), name, r))
		}
	}
	w.mu.Unlock()
	return err == nil
}

// noSpace is how an engine's error ends when the data-root is full.
const noSpace = "no space left on device"

// expected are the errors a racing workload gets from any engine: the
// object went away, or is in the wrong state for the operation, or (in
// a full-disk round) there is no room for it.
func expected(err error) bool {
	return cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) || cerrdefs.IsPermissionDenied(err) || strings.Contains(err.Error(), "is not running") || strings.Contains(err.Error(), "is already in progress") || strings.Contains(err.Error(), noSpace)
}

type weightedOp struct {
	name   string
	weight int
	f      func(*world)
}

var ops = []weightedOp{
	{"container create", 10, (*world).opCreate},
	{"container start", 8, (*world).opStart},
	{"container stop", 4, (*world).opStop},
	{"container rm", 3, (*world).opRm},
	{"container rm -f", 4, (*world).opRmForce},
	{"run --rm", 5, (*world).opRunRm},
	{"exec", 6, (*world).opExec},
	{"rename", 3, (*world).opRename},
	{"restart policy", 2, (*world).opRestartPolicy},
	{"network create", 2, (*world).opNetCreate},
	{"network connect", 3, (*world).opConnect},
	{"network disconnect", 3, (*world).opDisconnect},
	{"network rm", 2, (*world).opNetRm},
	{"volume create", 3, (*world).opVolCreate},
	{"volume rm", 2, (*world).opVolRm},
	{"commit", 2, (*world).opCommit},
	{"image tag", 2, (*world).opTag},
	{"image rm", 2, (*world).opRmi},
	{"prune", 2, (*world).opPrune},
}

// worker runs random operations until stop is closed.
func (w *world) worker(stop <-chan struct{}) {
	ops := append(append([]weightedOp(nil), ops...), w.more...)
	for {
		select {
		case <-stop:
			return
		default:
		}
		o := pickWeighted(ops, func(o weightedOp) int { return o.weight }, w.intn)
		w.prune.RLock()
		o.f(w)
		w.prune.RUnlock()
	}
}

// pickWeighted picks one of items, each with a chance proportional to its
// weight; intn(n) draws in [0, n).
func pickWeighted[T any](items []T, weight func(T) int, intn func(int) int) T {
	total := 0
	for _, it := range items {
		total += weight(it)
	}
	k := intn(total)
	for _, it := range items {
		if k < weight(it) {
			return it
		}
		k -= weight(it)
	}
	return items[len(items)-1]
}

var cmds = [][]string{{"sleep", "1000"}, {"sleep", "1000"}, {"true"}, {"sh", "-c", "exit 3"}, {"sleep", "1"}}

func one() *int { i := 1; return &i }

// createSpec is a container create of cmd, sometimes with a volume or
// on a network of the model. The volume and network it names stay busy
// until release is called, after the create: a volume removed meanwhile
// would be made again by the create (as dockerd does), which the model
// would take for a removal lost.
func (w *world) createSpec(name string, cmd []string) (spec client.ContainerCreateOptions, release func()) {
	hc := &container.HostConfig{}
	var held []*obj
	if w.intn(4) == 0 {
		if v := w.pick(w.vols, nil); v != nil {
			hc.Binds = []string{v.name + ":/v"}
			held = append(held, v)
		}
	}
	if w.intn(4) == 0 {
		if n := w.pick(w.nets, nil); n != nil {
			hc.NetworkMode = container.NetworkMode(n.name)
			held = append(held, n)
		}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			for _, o := range held {
				w.release(o)
			}
		})
	}
	return client.ContainerCreateOptions{Name: name, Config: &container.Config{Image: baseImage, Cmd: cmd, StopTimeout: one()}, HostConfig: hc}, release
}

func (w *world) addContainer(id, name string, nets ...string) *obj {
	w.ids.add(id)
	o := &obj{id: id, name: name, exists: true, nets: map[string]bool{}}
	for _, n := range nets {
		o.nets[n] = true
	}
	w.mu.Lock()
	w.conts[id] = o
	w.mu.Unlock()
	return o
}

func (w *world) opCreate() {
	name := w.next("c")
	spec, release := w.createSpec(name, cmds[w.intn(len(cmds))])
	var id string
	ok := w.call("container create", func(ctx context.Context) error {
		r, err := w.d.cli.ContainerCreate(ctx, spec)
		id = r.ID
		return err
	})
	release()
	if ok {
		nm := string(spec.HostConfig.NetworkMode)
		if nm == "" {
			nm = "bridge"
		}
		o := w.addContainer(id, name, nm)
		o.short = spec.Config.Cmd[0] != "sleep" || spec.Config.Cmd[1] != "1000"
	}
}

func (w *world) opStart() {
	o := w.pick(w.conts, nil)
	if o == nil {
		return
	}
	defer w.release(o)
	if w.call("container start", func(ctx context.Context) error {
		_, err := w.d.cli.ContainerStart(ctx, o.id, client.ContainerStartOptions{})
		return err
	}, o) {
		o.running = true
	}
}

func (w *world) opStop() {
	o := w.pick(w.conts, func(o *obj) bool { return o.running })
	if o == nil {
		return
	}
	defer w.release(o)
	if w.call("container stop", func(ctx context.Context) error {
		_, err := w.d.cli.ContainerStop(ctx, o.id, client.ContainerStopOptions{Timeout: one()})
		return err
	}, o) {
		o.running = false
	}
}

func (w *world) rm(name string, force bool) {
	o := w.pick(w.conts, func(o *obj) bool { return force || !o.running })
	if o == nil {
		return
	}
	defer w.release(o)
	if w.call(name, func(ctx context.Context) error {
		_, err := w.d.cli.ContainerRemove(ctx, o.id, client.ContainerRemoveOptions{Force: force})
		return err
	}, o) {
		o.exists = false
	}
}

func (w *world) opRm()      { w.rm("container rm", false) }
func (w *world) opRmForce() { w.rm("container rm -f", true) }

// opRunRm is `docker run --rm busybox true`: create, start, wait.
func (w *world) opRunRm() {
	spec, release := w.createSpec(w.next("r"), []string{"true"})
	defer release()
	spec.HostConfig.AutoRemove = true
	w.call("run --rm", func(ctx context.Context) error {
		return runRm(ctx, w.d.cli, w.ids, spec, release)
	})
}

// runRm is docker run --rm of spec (AutoRemove set): create, wait for
// the removal, start; it fails unless the command exits 0. created runs
// once the create has answered.
func runRm(ctx context.Context, c *client.Client, ids *idSet, spec client.ContainerCreateOptions, created func()) error {
	r, err := c.ContainerCreate(ctx, spec)
	created()
	if err != nil {
		return err
	}
	ids.add(r.ID)
	wr := c.ContainerWait(ctx, r.ID, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
	if _, err := c.ContainerStart(ctx, r.ID, client.ContainerStartOptions{}); err != nil {
		return err
	}
	select {
	case res := <-wr.Result:
		if res.StatusCode != 0 {
			return fmt.Errorf("run --rm %s: exit status %d", strings.Join(spec.Config.Cmd, " "), res.StatusCode)
		}
		return nil
	case err := <-wr.Error:
		return err
	}
}

func (w *world) opExec() {
	// A container whose command ends by itself takes its execs with it
	// (exit status 137), as in dockerd.
	o := w.pick(w.conts, func(o *obj) bool { return o.running && !o.short })
	if o == nil {
		return
	}
	defer w.release(o)
	w.call("exec", func(ctx context.Context) error {
		return w.execWait(ctx, o.id, "sh", "-c", "echo hi; sleep 0.2")
	}, o)
}

// execWait runs cmd as a detached exec in container id and waits for it
// (5 s at most); it fails unless the exec exits 0.
func (w *world) execWait(ctx context.Context, id string, cmd ...string) error {
	e, err := w.d.cli.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd})
	if err != nil {
		return err
	}
	if _, err := w.d.cli.ExecStart(ctx, e.ID, client.ExecStartOptions{Detach: true}); err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		r, err := w.d.cli.ExecInspect(ctx, e.ID, client.ExecInspectOptions{})
		if err != nil {
			return err
		}
		if !r.Running {
			if r.ExitCode != 0 {
				return fmt.Errorf("exec: exit status %d", r.ExitCode)
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("exec still running after 5s")
}

func (w *world) opRename() {
	o := w.pick(w.conts, nil)
	if o == nil {
		return
	}
	defer w.release(o)
	name := w.next("n")
	if w.call("rename", func(ctx context.Context) error {
		_, err := w.d.cli.ContainerRename(ctx, o.id, client.ContainerRenameOptions{NewName: name})
		return err
	}, o) {
		o.name = name
	}
}

// opRestartPolicy starts a container that fails at once under a restart
// policy, so that the policy fires while the daemon may die.
func (w *world) opRestartPolicy() {
	name := w.next("p")
	spec, release := w.createSpec(name, []string{"sh", "-c", "sleep 0.3; exit 1"})
	defer release()
	pol := []container.RestartPolicy{{Name: container.RestartPolicyAlways}, {Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3}, {Name: container.RestartPolicyUnlessStopped}}[w.intn(3)]
	spec.HostConfig.RestartPolicy = pol
	var id string
	ok := w.call("restart policy", func(ctx context.Context) error {
		r, err := w.d.cli.ContainerCreate(ctx, spec)
		release()
		if err != nil {
			return err
		}
		id = r.ID
		w.ids.add(id)
		_, err = w.d.cli.ContainerStart(ctx, r.ID, client.ContainerStartOptions{})
		return err
	})
	if id != "" {
		nm := string(spec.HostConfig.NetworkMode)
		if nm == "" {
			nm = "bridge"
		}
		o := w.addContainer(id, name, nm)
		o.restart = string(pol.Name)
		o.running, o.short = ok, true
	}
}

func (w *world) opNetCreate() {
	name := w.next("net")
	o := &obj{name: name, busy: true}
	w.mu.Lock()
	w.nets[name] = o
	w.mu.Unlock()
	if w.call("network create", func(ctx context.Context) error {
		r, err := w.d.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge"})
		o.id = r.ID
		return err
	}, o) {
		o.exists = true
	}
	w.release(o)
}

func (w *world) opConnect() {
	n := w.pick(w.nets, nil)
	if n == nil {
		return
	}
	defer w.release(n)
	c := w.pick(w.conts, func(o *obj) bool { return !o.nets[n.name] && !o.nets["none"] && !o.nets["host"] })
	if c == nil {
		return
	}
	defer w.release(c)
	if w.call("network connect", func(ctx context.Context) error {
		_, err := w.d.cli.NetworkConnect(ctx, n.name, client.NetworkConnectOptions{Container: c.id, EndpointConfig: &network.EndpointSettings{}})
		return err
	}, c, n) {
		w.mu.Lock()
		c.nets[n.name] = true
		w.mu.Unlock()
	}
}

func (w *world) opDisconnect() {
	c := w.pick(w.conts, func(o *obj) bool { return len(o.nets) > 0 })
	if c == nil {
		return
	}
	defer w.release(c)
	var net string
	w.mu.Lock()
	for k := range c.nets {
		if net == "" || k < net {
			net = k
		}
	}
	w.mu.Unlock()
	if w.call("network disconnect", func(ctx context.Context) error {
		_, err := w.d.cli.NetworkDisconnect(ctx, net, client.NetworkDisconnectOptions{Container: c.id})
		return err
	}, c, w.nets[net]) {
		w.mu.Lock()
		delete(c.nets, net)
		w.mu.Unlock()
	}
}

func (w *world) opNetRm() {
	n := w.pick(w.nets, nil)
	if n == nil {
		return
	}
	defer w.release(n)
	if w.call("network rm", func(ctx context.Context) error {
		_, err := w.d.cli.NetworkRemove(ctx, n.name, client.NetworkRemoveOptions{})
		return err
	}, n) {
		n.exists = false
	}
}

func (w *world) opVolCreate() {
	name := w.next("vol")
	o := &obj{name: name, busy: true}
	w.mu.Lock()
	w.vols[name] = o
	w.mu.Unlock()
	if w.call("volume create", func(ctx context.Context) error {
		_, err := w.d.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name})
		return err
	}, o) {
		o.exists = true
	}
	w.release(o)
}

func (w *world) opVolRm() {
	v := w.pick(w.vols, nil)
	if v == nil {
		return
	}
	defer w.release(v)
	if w.call("volume rm", func(ctx context.Context) error {
		_, err := w.d.cli.VolumeRemove(ctx, v.name, client.VolumeRemoveOptions{})
		return err
	}, v) {
		v.exists = false
	}
}

func (w *world) addImage(ref string) *obj {
	o := &obj{name: ref, busy: true}
	w.mu.Lock()
	w.imgs[ref] = o
	w.mu.Unlock()
	return o
}

func (w *world) opCommit() {
	c := w.pick(w.conts, nil)
	if c == nil {
		return
	}
	defer w.release(c)
	ref := w.next("img") + ":latest"
	o := w.addImage(ref)
	defer w.release(o)
	if w.call("commit", func(ctx context.Context) error {
		_, err := w.d.cli.ContainerCommit(ctx, c.id, client.ContainerCommitOptions{Reference: ref})
		return err
	}, o) {
		o.exists = true
	}
}

func (w *world) opTag() {
	src := baseImage
	if s := w.pick(w.imgs, nil); s != nil {
		src = s.name
		defer w.release(s)
	}
	ref := w.next("tag") + ":v1"
	o := w.addImage(ref)
	defer w.release(o)
	if w.call("image tag", func(ctx context.Context) error {
		_, err := w.d.cli.ImageTag(ctx, client.ImageTagOptions{Source: src, Target: ref})
		return err
	}, o) {
		o.exists = true
	}
}

func (w *world) opRmi() {
	o := w.pick(w.imgs, nil)
	if o == nil {
		return
	}
	defer w.release(o)
	if w.call("image rm", func(ctx context.Context) error {
		_, err := w.d.cli.ImageRemove(ctx, o.name, client.ImageRemoveOptions{})
		return err
	}, o) {
		o.exists = false
	}
}

// opPrune runs one prune with every other operation held off, so that
// its report can be applied to the model.
func (w *world) opPrune() {
	w.prune.RUnlock()
	defer w.prune.RLock()
	w.prune.Lock()
	defer w.prune.Unlock()
	var gone []string
	var objs []*obj
	var m map[string]*obj
	var kind string
	var f func(ctx context.Context) error
	switch w.intn(4) {
	case 0:
		kind, m = "prune containers", w.conts
		f = func(ctx context.Context) error {
			r, err := w.d.cli.ContainerPrune(ctx, client.ContainerPruneOptions{})
			gone = r.Report.ContainersDeleted
			return err
		}
	case 1:
		kind, m = "prune images", w.imgs
		f = func(ctx context.Context) error {
			r, err := w.d.cli.ImagePrune(ctx, client.ImagePruneOptions{})
			for _, d := range r.Report.ImagesDeleted {
				if d.Untagged != "" {
					gone = append(gone, d.Untagged)
				}
			}
			return err
		}
	case 2:
		kind, m = "prune networks", w.nets
		f = func(ctx context.Context) error {
			r, err := w.d.cli.NetworkPrune(ctx, client.NetworkPruneOptions{})
			gone = r.Report.NetworksDeleted
			return err
		}
	default:
		kind, m = "prune volumes", w.vols
		f = func(ctx context.Context) error {
			r, err := w.d.cli.VolumePrune(ctx, client.VolumePruneOptions{Filters: client.Filters{}.Add("all", "true")})
			gone = r.Report.VolumesDeleted
			return err
		}
	}
	w.mu.Lock()
	for _, o := range m {
		objs = append(objs, o)
	}
	w.mu.Unlock()
	if !w.call(kind, f, objs...) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, g := range gone {
		for _, o := range m {
			if o.id == g || o.name == g || strings.TrimPrefix(g, "docker.io/library/") == o.name {
				o.exists = false
			}
		}
	}
}
