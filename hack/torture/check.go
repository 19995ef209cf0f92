package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// violate records an invariant violation of check and prints it.
func (w *world) violate(round int, check, format string, args ...any) {
	if stopping.Load() {
		return // the daemon was killed by the interrupt, not by a fault
	}
	w.st.violation(w.prefix + "check: " + check)
	fmt.Printf("VIOLATION round %d [%s] %s\n", round, check, fmt.Sprintf(format, args...))
}

func ctx30() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

type ctrInfo struct {
	c       container.InspectResponse
	running bool
}

// snapshot inspects every listed container.
func (w *world) snapshot(round int) map[string]ctrInfo {
	ctx, cancel := ctx30()
	defer cancel()
	out := map[string]ctrInfo{}
	l, err := w.d.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		w.violate(round, "list containers", "%v", err)
		return out
	}
	for _, s := range l.Items {
		w.ids.add(s.ID)
		r, err := w.d.cli.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
		if err != nil {
			w.violate(round, "inspect container", "%s (%v): %v", s.ID[:12], s.Names, err)
			continue
		}
		out[s.ID] = ctrInfo{c: r.Container, running: r.Container.State != nil && r.Container.State.Running}
	}
	return out
}

// runIn runs cmd in a new container from image (with hc) and removes it;
// it returns an error unless the command exits 0.
func (w *world) runIn(image string, hc *container.HostConfig, cmd ...string) error {
	ctx, cancel := ctx30()
	defer cancel()
	if hc == nil {
		hc = &container.HostConfig{}
	}
	r, err := w.d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: image, Cmd: cmd}, HostConfig: hc})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	w.ids.add(r.ID)
	defer w.d.cli.ContainerRemove(context.Background(), r.ID, client.ContainerRemoveOptions{Force: true})
	wr := w.d.cli.ContainerWait(ctx, r.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := w.d.cli.ContainerStart(ctx, r.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	select {
	case res := <-wr.Result:
		if res.StatusCode != 0 {
			return fmt.Errorf("exit status %d", res.StatusCode)
		}
	case err := <-wr.Error:
		return fmt.Errorf("wait: %w", err)
	}
	return nil
}

// check runs after every restart: durability against the model, then
// usability of everything listed, then the host for orphans.
func (w *world) check(round int, pinned map[string]int, liveRestore bool) {
	time.Sleep(1500 * time.Millisecond) // restart policies and autoremove settle
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st.run(w.prefix + "check: round")

	// Containers: durability, then adopt the API's truth. Connections
	// are compared for the networks that exist: a network rm takes a
	// stopped container's connection with it (dockerd then fails its
	// start with "network not found").
	snap := w.snapshot(round)
	listedNets := map[string]bool{}
	{
		ctx, cancel := ctx30()
		nl, _ := w.d.cli.NetworkList(ctx, client.NetworkListOptions{})
		cancel()
		for _, n := range nl.Items {
			listedNets[n.Name] = true
		}
	}
	for id, o := range w.conts {
		ci, listed := snap[id]
		switch {
		case o.uncertain:
		case o.exists && !listed:
			w.violate(round, "durability", "acknowledged container %s (%s) is gone", id[:12], o.name)
		case !o.exists && listed:
			w.violate(round, "durability", "container %s (%s) removed with an acknowledgement is back", id[:12], o.name)
		case listed && strings.TrimPrefix(ci.c.Name, "/") != o.name:
			w.violate(round, "durability", "container %s renamed to %s (acknowledged) is named %s", id[:12], o.name, ci.c.Name)
		case listed:
			have := map[string]bool{}
			if ci.c.NetworkSettings != nil {
				for n := range ci.c.NetworkSettings.Networks {
					if listedNets[n] {
						have[n] = true
					}
				}
			}
			for n := range o.nets {
				if !have[n] && listedNets[n] {
					w.violate(round, "durability", "container %s (restart %q, running %v): acknowledged connection to %s is gone (has %v); history:\n    %s", id[:12], o.restart, ci.running, n, keys(have), strings.Join(o.hist, "\n    "))
				}
			}
			for n := range have {
				if !o.nets[n] {
					w.violate(round, "durability", "container %s (restart %q, running %v): acknowledged disconnect from %s undone; history:\n    %s", id[:12], o.restart, ci.running, n, strings.Join(o.hist, "\n    "))
				}
			}
		}
	}
	for id, o := range w.conts {
		if !o.pinned {
			delete(w.conts, id)
		}
	}
	for id, ci := range snap {
		if ci.c.HostConfig != nil && ci.c.HostConfig.AutoRemove && !ci.running {
			w.violate(round, "autoremove", "container %s with --rm is listed, not running (%s)", id[:12], ci.c.State.Status)
		}
		if _, ok := w.conts[id]; ok {
			w.conts[id].running = ci.running
			continue
		}
		if ci.c.HostConfig != nil && ci.c.HostConfig.AutoRemove {
			continue // goes by itself, outside the model
		}
		o := &obj{id: id, name: strings.TrimPrefix(ci.c.Name, "/"), exists: true, running: ci.running, nets: map[string]bool{}}
		if c := ci.c.Config; c != nil && (len(c.Cmd) != 2 || c.Cmd[0] != "sleep" || c.Cmd[1] != "1000") {
			o.short = true
		}
		if ci.c.NetworkSettings != nil {
			for n := range ci.c.NetworkSettings.Networks {
				o.nets[n] = true
			}
		}
		if ci.c.HostConfig != nil {
			o.restart = string(ci.c.HostConfig.RestartPolicy.Name)
		}
		w.conts[id] = o
	}

	// Pinned containers: kept by live-restore, or handled by their policy.
	for id, pid := range pinned {
		ci, ok := snap[id]
		o := w.conts[id]
		if !ok {
			w.violate(round, "live-restore", "pinned container %s is gone", id[:12])
			continue
		}
		switch {
		case liveRestore && (!ci.running || ci.c.State.Pid != pid):
			w.violate(round, "live-restore", "pinned container %s (%s) not kept running: running=%v pid %d→%d", id[:12], o.restart, ci.running, pid, ci.c.State.Pid)
		case !liveRestore && o.restart == "always" && !ci.running:
			w.violate(round, "restart policy", "pinned container %s (always) not running after restart without live-restore", id[:12])
		case !liveRestore && o.restart == "no" && ci.running && ci.c.State.Pid == pid:
			w.violate(round, "restart policy", "pinned container %s (no) still running its old process without live-restore", id[:12])
		}
	}

	w.syncNamed(round, "network", w.nets, func(ctx context.Context) (map[string]string, error) {
		l, err := w.d.cli.NetworkList(ctx, client.NetworkListOptions{})
		m := map[string]string{}
		for _, n := range l.Items {
			m[n.Name] = n.ID
		}
		return m, err
	})
	w.syncNamed(round, "volume", w.vols, func(ctx context.Context) (map[string]string, error) {
		l, err := w.d.cli.VolumeList(ctx, client.VolumeListOptions{})
		m := map[string]string{}
		for _, v := range l.Items {
			m[v.Name] = v.Name
		}
		return m, err
	})
	imgIDs := map[string]bool{}
	w.syncNamed(round, "image", w.imgs, func(ctx context.Context) (map[string]string, error) {
		l, err := w.d.cli.ImageList(ctx, client.ImageListOptions{All: true})
		m := map[string]string{}
		for _, i := range l.Items {
			imgIDs[i.ID] = true
			for _, t := range i.RepoTags {
				m[t] = i.ID
			}
		}
		return m, err
	})

	// Usability: inspect all, start some stopped containers, run on each
	// network, mount each volume, run each image.
	ctx, cancel := ctx30()
	defer cancel()
	var stopped []string
	for id, ci := range snap {
		if !ci.running && !ci.c.HostConfig.AutoRemove {
			stopped = append(stopped, id)
		}
	}
	sort.Strings(stopped)
	for i := 0; i < 3 && len(stopped) > 0; i++ {
		k := w.intn(len(stopped))
		id := stopped[k]
		stopped = append(stopped[:k], stopped[k+1:]...)
		w.st.run(w.prefix + "check: start listed container")
		_, err := w.d.cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
		if err != nil && strings.Contains(err.Error(), "network") && cerrdefs.IsNotFound(err) {
			continue // its network was removed: dockerd fails the same way
		}
		if err != nil {
			w.violate(round, "start listed container", "%s (%s): %v", id[:12], snap[id].c.Name, err)
		} else {
			w.conts[id].running = true
		}
	}
	nl, _ := w.d.cli.NetworkList(ctx, client.NetworkListOptions{})
	for _, n := range nl.Items {
		w.st.run(w.prefix + "check: run on listed network")
		if _, err := w.d.cli.NetworkInspect(ctx, n.ID, client.NetworkInspectOptions{}); err != nil {
			w.violate(round, "inspect network", "%s: %v", n.Name, err)
		}
		if err := w.runIn(baseImage, &container.HostConfig{NetworkMode: container.NetworkMode(n.Name)}, "true"); err != nil {
			w.violate(round, "run on listed network", "%s (%s): %v", n.Name, n.ID[:12], err)
		}
	}
	vl, _ := w.d.cli.VolumeList(ctx, client.VolumeListOptions{})
	var binds []string
	for i, v := range vl.Items {
		if _, err := w.d.cli.VolumeInspect(ctx, v.Name, client.VolumeInspectOptions{}); err != nil {
			w.violate(round, "inspect volume", "%s: %v", v.Name, err)
		}
		binds = append(binds, fmt.Sprintf("%s:/vol%d", v.Name, i))
	}
	if len(binds) > 0 {
		w.st.run(w.prefix + "check: mount listed volumes")
		if err := w.runIn(baseImage, &container.HostConfig{Binds: binds}, "sh", "-c", "for d in /vol*; do touch $d/t || exit 1; done"); err != nil {
			w.violate(round, "mount listed volumes", "%v: %v", binds, err)
		}
	}
	var ids []string
	for id := range imgIDs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	// Commits pile images up: a sample of them per round keeps a round
	// short, and every image is run sooner or later.
	for len(ids) > 6 {
		k := w.intn(len(ids))
		ids = append(ids[:k], ids[k+1:]...)
	}
	for _, id := range ids {
		w.st.run(w.prefix + "check: run listed image")
		if _, err := w.d.cli.ImageInspect(ctx, id); err != nil {
			w.violate(round, "inspect image", "%s: %v", id, err)
			continue
		}
		if err := w.runIn(id, nil, "true"); err != nil {
			w.violate(round, "run listed image", "%s: %v", id[:19], err)
		}
	}
	w.orphans(round, 0)
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// syncNamed checks the model of one kind of named object against the
// API's list, then adopts the list.
func (w *world) syncNamed(round int, kind string, m map[string]*obj, list func(context.Context) (map[string]string, error)) {
	ctx, cancel := ctx30()
	defer cancel()
	have, err := list(ctx)
	if err != nil {
		w.violate(round, "list "+kind+"s", "%v", err)
		return
	}
	for name, o := range m {
		_, listed := have[name]
		switch {
		case o.uncertain:
		case o.exists && !listed:
			w.violate(round, "durability", "acknowledged %s %s is gone", kind, name)
		case !o.exists && listed:
			w.violate(round, "durability", "%s %s is listed, though its removal was acknowledged or its creation failed", kind, name)
		}
	}
	for name := range m {
		delete(m, name)
	}
	for name, id := range have {
		if strings.HasPrefix(name, "tt-") || (kind == "image" && strings.HasPrefix(name, "tt-")) {
			m[name] = &obj{id: id, name: name, exists: true}
		}
	}
}

var (
	nftIfRE = regexp.MustCompile(`"(br-[0-9a-f]{12}|btt[0-9]+)"`)
	nftIPRE = regexp.MustCompile(`\b\d+\.\d+\.\d+\.\d+\b(/\d+)?`)
)

// orphans looks on the host for what the daemon does not account for.
// A finding is checked again after a second (a restart policy may have
// started a container meanwhile) before it counts.
func (w *world) orphans(round, attempt int, first ...string) {
	snap := w.snapshot(round)
	var found []string
	add := func(check, format string, args ...any) {
		found = append(found, check+"\x00"+fmt.Sprintf(format, args...))
	}
	running := map[string]bool{}
	endpoints := map[string]bool{}
	ips := map[string]bool{}
	var merged []string
	for id, ci := range snap {
		if !ci.running {
			continue
		}
		running[id] = true
		if ci.c.GraphDriver != nil && ci.c.GraphDriver.Data["MergedDir"] != "" {
			merged = append(merged, filepath.Dir(ci.c.GraphDriver.Data["MergedDir"]))
		}
		if ci.c.NetworkSettings != nil {
			for _, ep := range ci.c.NetworkSettings.Networks {
				if ep == nil {
					continue
				}
				endpoints[ep.EndpointID] = true
				if ep.IPAddress.IsValid() {
					ips[ep.IPAddress.String()] = true
				}
			}
		}
	}
	// Mounts under the data-root and exec-root.
	for _, m := range append(mountsUnder(w.d.dataRoot), mountsUnder(w.d.execRoot)...) {
		ok := false
		for _, p := range merged {
			if m.path == p || strings.HasPrefix(m.path, p+"/") {
				ok = true
			}
		}
		if id := idRE.FindString(m.path); id != "" && running[id] {
			ok = true
		}
		if !ok {
			add("orphan mount", "%s (%s from %s)", m.path, m.fstype, m.source)
		}
	}
	// Cgroups and the processes in them, shims.
	for id, dirs := range cgroupDirs(w.ids.list()) {
		if running[id] {
			continue
		}
		for _, dir := range dirs {
			if p := cgroupProcs(dir); len(p) > 0 {
				add("orphan process", "container %s is not running, cgroup %s holds %v", id[:12], dir, p)
			} else {
				add("orphan cgroup", "%s", dir)
			}
		}
	}
	for _, s := range w.d.myShims() {
		if s.id == "" {
			add("orphan shim", "pid %d serves no container", s.pid)
		} else if !running[s.id] {
			if _, listed := snap[s.id]; !listed {
				add("orphan shim", "pid %d for container %s which is not listed", s.pid, s.id[:12])
			}
		}
	}
	// Bridges, veths, nft rules, IPAM.
	ctx, cancel := ctx30()
	defer cancel()
	nl, err := w.d.cli.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		w.violate(round, "list networks", "%v", err)
		return
	}
	netBr := map[string]bool{w.d.bridge: true}
	netIDs := map[string]bool{}
	gateways := map[string]bool{}
	for _, n := range nl.Items {
		netIDs[n.ID] = true
		if n.Driver == "bridge" {
			br := n.Options["com.docker.network.bridge.name"]
			if br == "" {
				br = "br-" + n.ID[:12]
			}
			netBr[br] = true
		}
		for _, c := range n.IPAM.Config {
			if c.Gateway.IsValid() {
				gateways[c.Gateway.String()] = true
			}
		}
	}
	brs := w.d.myBridges()
	for br := range brs {
		if !netBr[br] {
			add("orphan bridge", "%s", br)
		}
	}
	nEp := 0
	for _, ci := range snap {
		if ci.running && ci.c.NetworkSettings != nil {
			for name := range ci.c.NetworkSettings.Networks {
				for _, n := range nl.Items {
					if n.Name == name && n.Driver == "bridge" {
						nEp++
					}
				}
			}
		}
	}
	if v := vethsOn(brs); len(v) > nEp {
		add("orphan veth", "%d veths on the daemon's bridges for %d endpoints: %v", len(v), nEp, v)
	}
	rules := w.d.nftRules()
	for _, m := range nftIfRE.FindAllStringSubmatch(rules, -1) {
		if !netBr[m[1]] {
			add("orphan nft rule", "rule for interface %s of no network", m[1])
		}
	}
	inPool := netip.MustParsePrefix(pool)
	for _, m := range nftIPRE.FindAllString(rules, -1) {
		if strings.Contains(m, "/") || ips[m] || gateways[m] {
			continue
		}
		if a, err := netip.ParseAddr(m); err != nil || !inPool.Contains(a) {
			continue
		}
		add("orphan nft rule", "rule for address %s of no running endpoint", m)
	}
	for nid, addrs := range w.d.ipamOwners() {
		if !netIDs[nid] {
			add("orphan ipam", "allocations of network %s which is not listed", nid[:12])
			continue
		}
		for a, owner := range addrs {
			if len(owner) == 64 && !endpoints[owner] {
				add("orphan ipam", "address %s held by %s, no running endpoint%s", a, owner[:12], w.whoHas(owner, snap))
			}
		}
	}
	if len(found) == 0 {
		return
	}
	if attempt == 0 {
		time.Sleep(time.Second)
		w.orphans(round, 1, found...)
		return
	}
	// Only what both looks found: a container in a restart loop shows a
	// new endpoint (and address) at each look.
	before := map[string]bool{}
	for _, f := range first {
		before[f] = true
	}
	kept := found[:0]
	for _, f := range found {
		if before[f] {
			kept = append(kept, f)
		}
	}
	found = kept
	sort.Strings(found)
	for _, f := range found {
		c, msg, _ := strings.Cut(f, "\x00")
		w.violate(round, c, "%s", msg)
	}
	if os.Getenv("TORTURE_DEBUG") != "" {
		fmt.Println(rules)
	}
}

var _ = netip.Addr{}

// whoHas names the container whose saved state mentions s (an endpoint
// ID), with its state, for a violation's report.
func (w *world) whoHas(s string, snap map[string]ctrInfo) string {
	files, _ := filepath.Glob(filepath.Join(w.d.dataRoot, "containers", "*", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), s) {
			continue
		}
		id := filepath.Base(filepath.Dir(f))
		ci, ok := snap[id]
		if !ok {
			return fmt.Sprintf(" (in %s of unlisted container %s)", filepath.Base(f), id[:12])
		}
		return fmt.Sprintf(" (container %s %s, running=%v, restart %q, exit %d)", id[:12], ci.c.Name, ci.running, ci.c.HostConfig.RestartPolicy.Name, ci.c.State.ExitCode)
	}
	return " (no container mentions it)"
}
