package main

// The soak scenario (issue #19, "Soak"): the crash campaign's workload
// (create, start, stop, rm, run --rm, exec, rename, restart policies,
// networks, volumes, commit, tag, rmi, prune) plus builds and pulls from
// a docker-registry on loopback, without kills, for a long time. Every
// -soak-every the workload pauses, the campaign's checks run (everything
// listed works, nothing on the host is unaccounted for), everything the
// workload made is removed, and what the daemon and the host hold is
// counted: the first count after warm-up is the baseline, and every
// later one must match it (mounts, cgroups, interfaces, nft rules,
// shims, fds, goroutines) and keep the daemon's RSS within 10% of it.

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"

	"github.com/berthd/berth/pkg/registrytest"
)

// leakCount is one count of what the soak must not leak.
type leakCount struct {
	kinds map[string]int64
	rss   procSample
}

var leakKinds = []string{"mounts", "cgroups", "interfaces", "nft rules", "shims", "fds", "goroutines"}

func runSoak(bin, root string, st *stats, dur, every time.Duration, workers int, seed uint64) int {
	fmt.Printf("torture: soak: %s, leak checks every %s\n", dur, every)
	port, err := registrytest.FreeLoopbackPort()
	if err != nil {
		return setupFailed(st, "soak", err)
	}
	reg, err := registrytest.Start(root, port)
	if err != nil {
		return setupFailed(st, "soak", err)
	}
	defer reg.Stop()
	d, ids, cleanup, err := scenarioDaemon(bin, root, "soak", false)
	if err != nil {
		return setupFailed(st, "soak", err)
	}
	defer cleanup()
	w := newWorld(d, st, ids, seed)
	w.prefix = "soak: "
	w.more = []weightedOp{{"build", 2, (*world).opBuild}, {"pull", 2, (*world).opPull}, {"update right after run -d", 2, (*world).opUpdateAfterRun}}
	w.pullRef = reg.Addr + "/torture/pullme:latest"
	if err := startPinned(w); err == nil {
		err = pushPullImage(w)
	}
	if err != nil {
		return setupFailed(st, "soak", err)
	}
	var base *leakCount
	end := time.Now().Add(dur)
	for round := 1; time.Now().Before(end) && !stopping.Load(); round++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < workers; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); w.worker(stop) }()
		}
		sleepUnlessStopping(min(every, time.Until(end)+time.Second))
		close(stop)
		wg.Wait()
		if stopping.Load() {
			break
		}
		pinned := map[string]int{}
		for id, o := range w.conts {
			if o.pinned {
				ctx, cancel := ctx30()
				if r, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err == nil && r.Container.State.Running {
					pinned[id] = r.Container.State.Pid
				}
				cancel()
			}
		}
		w.check(round, pinned, true)
		if err := w.reset(); err != nil {
			w.violate(round, "reset", "%v", err)
		}
		c := countLeaks(d, ids)
		fmt.Printf("torture: soak: check %d: %s\n", round, c)
		if base == nil {
			base = c
			continue
		}
		for _, k := range leakKinds {
			row := "soak: leaks: " + k
			st.run(row)
			if c.kinds[k] > base.kinds[k] {
				fmt.Printf("VIOLATION [%s] %d after warm-up, %d now\n", row, base.kinds[k], c.kinds[k])
				st.violation(row)
			}
		}
		st.run("soak: daemon")
		st.growth("soak: daemon", base.rss, c.rss)
		if c.rss.rss > base.rss.rss+base.rss.rss/10 {
			fmt.Printf("VIOLATION [soak: daemon] RSS %s after warm-up, %s now\n", mib(base.rss.rss), mib(c.rss.rss))
			st.violation("soak: daemon")
		}
	}
	if base == nil && !stopping.Load() {
		fmt.Println("VIOLATION [soak: daemon] the run ended before a second leak check: make -soak-time at least twice -soak-every")
		st.violation("soak: daemon")
	}
	v := 0
	st.mu.Lock()
	for name, r := range st.rows {
		if strings.HasPrefix(name, "soak: ") {
			v += r.violations
		}
	}
	st.mu.Unlock()
	return v
}

func (c *leakCount) String() string {
	var b strings.Builder
	for _, k := range leakKinds {
		fmt.Fprintf(&b, "%s %d, ", k, c.kinds[k])
	}
	fmt.Fprintf(&b, "RSS %s", mib(c.rss.rss))
	return b.String()
}

// countLeaks counts what the daemon holds on the host and in itself.
func countLeaks(d *daemon, ids *idSet) *leakCount {
	ids.sampleDir(d.dataRoot + "/containers")
	c := &leakCount{kinds: map[string]int64{}}
	c.rss = d.settle()
	c.kinds["fds"] = int64(c.rss.fds)
	c.kinds["goroutines"] = int64(goroutines(d))
	c.kinds["mounts"] = int64(len(mountsUnder(d.root)))
	for _, dirs := range cgroupDirs(ids.list()) {
		c.kinds["cgroups"] += int64(len(dirs))
	}
	br := d.myBridges()
	c.kinds["interfaces"] = int64(len(br) + len(vethsOn(br)))
	for _, l := range strings.Split(d.nftRules(), "\n") {
		if strings.Contains(l, "handle") || strings.Contains(l, " -> ") || strings.HasPrefix(strings.TrimSpace(l), "ip") || strings.Contains(l, "accept") || strings.Contains(l, "drop") || strings.Contains(l, "dnat") || strings.Contains(l, "masquerade") || strings.Contains(l, "jump") {
			c.kinds["nft rules"]++
		}
	}
	c.kinds["shims"] = int64(len(d.myShims()))
	return c
}

// reset removes everything the workload made (the pinned containers and
// the base image stay) and empties the model of it.
func (w *world) reset() error {
	d := w.d
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	l, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return err
	}
	for _, c := range l.Items {
		if o := w.conts[c.ID]; o != nil && o.pinned {
			continue
		}
		if _, err := d.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			return fmt.Errorf("rm -f %s: %w", c.ID[:12], err)
		}
	}
	for id, o := range w.conts {
		if !o.pinned {
			delete(w.conts, id)
		}
	}
	nl, err := d.cli.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nl.Items {
		if n.Name == "bridge" || n.Name == "host" || n.Name == "none" {
			continue
		}
		if _, err := d.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
			return fmt.Errorf("network rm %s: %w", n.Name, err)
		}
	}
	if _, err := d.cli.VolumePrune(ctx, client.VolumePruneOptions{Filters: client.Filters{}.Add("all", "true")}); err != nil {
		return err
	}
	il, err := d.cli.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		return err
	}
	for _, img := range il.Items {
		for _, t := range img.RepoTags {
			if t == baseImage || t == "docker.io/library/"+baseImage {
				continue
			}
			if _, err := d.cli.ImageRemove(ctx, t, client.ImageRemoveOptions{}); err != nil && !strings.Contains(err.Error(), "No such image") {
				return fmt.Errorf("rmi %s: %w", t, err)
			}
		}
	}
	if _, err := d.cli.ImagePrune(ctx, client.ImagePruneOptions{Filters: client.Filters{}.Add("dangling", "false")}); err != nil {
		return err
	}
	w.nets, w.vols, w.imgs = map[string]*obj{}, map[string]*obj{}, map[string]*obj{}
	return nil
}

// pushPullImage builds the image the pulls fetch (busybox and a layer of
// its own, so that a pull after an rmi downloads something), pushes it to
// the registry and removes it locally.
func pushPullImage(w *world) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := w.build(ctx, w.pullRef, "FROM "+baseImage+"\nRUN dd if=/dev/urandom of=/blob bs=64k count=16\n"); err != nil {
		return err
	}
	r, err := w.d.cli.ImagePush(ctx, w.pullRef, client.ImagePushOptions{RegistryAuth: "e30="})
	if err != nil {
		return err
	}
	if err := r.Wait(ctx); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	_, err = w.d.cli.ImageRemove(ctx, w.pullRef, client.ImageRemoveOptions{})
	return err
}

// build runs a classic build of dockerfile tagged ref, without the
// build cache: each one runs its RUN in a container of its own.
func (w *world) build(ctx context.Context, ref, dockerfile string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))})
	tw.Write([]byte(dockerfile))
	tw.WriteHeader(&tar.Header{Name: "a", Mode: 0o644, Size: 2})
	tw.Write([]byte("a\n"))
	tw.Close()
	r, err := w.d.cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{ref}, Version: build.BuilderV1, Remove: true, ForceRemove: true, NoCache: true})
	if err != nil {
		return err
	}
	defer r.Body.Close()
	out, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if i := bytes.Index(out, []byte(`"error"`)); i >= 0 {
		return fmt.Errorf("build: %s", out[i:min(len(out), i+300)])
	}
	return nil
}

// opBuild builds a small image: FROM busybox, a RUN and a COPY.
func (w *world) opBuild() {
	ref := w.next("build") + ":latest"
	o := w.addImage(ref)
	defer w.release(o)
	if w.call("build", func(ctx context.Context) error {
		return w.build(ctx, ref, "FROM "+baseImage+"\nRUN echo $$ > /pid\nCOPY a /a\n")
	}, o) {
		o.exists = true
	}
}

// opPull pulls the registry's image (again).
func (w *world) opPull() {
	w.mu.Lock()
	o := w.imgs[w.pullRef]
	if o != nil && o.busy {
		w.mu.Unlock()
		return
	}
	if o == nil {
		o = &obj{name: w.pullRef}
		w.imgs[w.pullRef] = o
	}
	o.busy = true
	w.mu.Unlock()
	defer w.release(o)
	if w.call("pull", func(ctx context.Context) error {
		r, err := w.d.cli.ImagePull(ctx, w.pullRef, client.ImagePullOptions{})
		if err != nil {
			return err
		}
		return r.Wait(ctx)
	}, o) {
		o.exists = true
	}
}

// opUpdateAfterRun is the docker run -d then update race, here
// among the churn's file system views (volume copy-ups, commits).
func (w *world) opUpdateAfterRun() {
	spec, release := w.createSpec("", nil)
	defer release()
	w.call("update right after run -d", func(ctx context.Context) error {
		_, err := runThenUpdate(w.d.cli, w.ids, spec.HostConfig)
		return err
	})
}
