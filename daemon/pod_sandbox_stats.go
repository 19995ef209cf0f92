package daemon

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/errdefs"
)

// cpuSamples keep each cgroup's previous CPU reading, so a stats call
// can answer the rate since the last one (usage_nano_cores), as
// containerd's and cadvisor's do.
type cpuSamples struct {
	mu   sync.Mutex
	last map[string]cpuSample
}

type cpuSample struct {
	at    time.Time
	usage uint64
}

// rate records usage for key and returns nano cores since the previous
// reading (0 on the first, or when the counter went back: a restart).
func (s *cpuSamples) rate(key string, at time.Time, usage uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string]cpuSample{}
	}
	prev, ok := s.last[key]
	s.last[key] = cpuSample{at: at, usage: usage}
	elapsed := at.Sub(prev.at)
	if !ok || usage < prev.usage || elapsed <= 0 {
		return 0
	}
	return uint64(float64(usage-prev.usage) / elapsed.Seconds())
}

// forget drops key's reading.
func (s *cpuSamples) forget(key string) {
	s.mu.Lock()
	delete(s.last, key)
	s.mu.Unlock()
}

// PodContainerStats are the figures of one pod container.
func (d *Daemon) PodContainerStats(ctx context.Context, id string) (backend.PodStats, error) {
	c, err := d.containers.Get(id)
	if err != nil || podContainerType(c) != backend.PodTypeContainer {
		return backend.PodStats{}, errdefs.NotFoundf("container %s not found", id)
	}
	return d.podContainerStats(c), nil
}

// ListPodContainerStats are the figures of the pod containers f selects.
func (d *Daemon) ListPodContainerStats(ctx context.Context, f backend.PodContainerStatsFilter) []backend.PodStats {
	var out []backend.PodStats
	for _, c := range d.containers.List() {
		if podContainerType(c) != backend.PodTypeContainer || !strings.HasPrefix(c.ID, f.ID) {
			continue
		}
		c.Lock()
		sandbox := c.Config.Labels[backend.PodSandboxIDLabel]
		c.Unlock()
		if !strings.HasPrefix(sandbox, f.SandboxID) {
			continue
		}
		s := d.podContainerStats(c)
		if labelsMatch(s.Labels, f.Labels) {
			out = append(out, s)
		}
	}
	return out
}

// PodSandboxStats are the figures of one pod and its containers.
func (d *Daemon) PodSandboxStats(ctx context.Context, id string) (backend.PodSandboxStats, error) {
	sb, err := d.PodSandboxStatus(ctx, id)
	if err != nil {
		return backend.PodSandboxStats{}, err
	}
	return d.podSandboxStats(ctx, sb), nil
}

// ListPodSandboxStats are the figures of the pods f selects.
func (d *Daemon) ListPodSandboxStats(ctx context.Context, f backend.PodSandboxFilter) []backend.PodSandboxStats {
	var out []backend.PodSandboxStats
	for _, sb := range d.PodSandboxes(ctx, f) {
		out = append(out, d.podSandboxStats(ctx, sb))
	}
	return out
}

// podSandboxStats are the pod's CPU and memory figures from its own
// cgroup, the cgroup parent kubelet gives it (which holds the pause and
// every container, and what kubelet itself accounts the pod by), as
// containerd reads them; a pod without one gets the sums over the pause
// container and the pod's containers. The process count is the sum
// over the containers in both cases, as containerd's.
func (d *Daemon) podSandboxStats(ctx context.Context, sb backend.PodSandbox) backend.PodSandboxStats {
	now := time.Now()
	out := backend.PodSandboxStats{Sandbox: sb, Pod: backend.PodStats{ID: sb.ID, Timestamp: now}}
	out.Containers = d.ListPodContainerStats(ctx, backend.PodContainerStatsFilter{SandboxID: sb.ID})
	add := func(s backend.PodStats) {
		out.Pod.CPUUsageCoreNanoSeconds += s.CPUUsageCoreNanoSeconds
		out.Pod.MemoryUsage += s.MemoryUsage
		out.Pod.MemoryWorkingSet += s.MemoryWorkingSet
		out.Pod.MemoryRSS += s.MemoryRSS
		out.Pod.PageFaults += s.PageFaults
		out.Pod.MajorPageFaults += s.MajorPageFaults
		out.Pod.Processes += s.Processes
	}
	// The pod's cgroup is where its pause container was placed: the CRI's
	// parent under cgroupfs, the expanded slice under systemd (where the
	// CRI's parent is a slice name, not a path).
	parent := sb.Config.CgroupParent
	if pause, err := d.containers.Get(sb.ID); err == nil {
		add(d.cgroupFigures(pause, now))
		if pause.CgroupParent != "" {
			parent = pause.CgroupParent
		}
	}
	for _, s := range out.Containers {
		add(s)
	}
	if own, ok := podCgroupFigures(parent); ok {
		own.ID, own.Timestamp, own.Processes = sb.ID, now, out.Pod.Processes
		out.Pod = own
	}
	out.Pod.UsageNanoCores = d.podState.cpu.rate("pod:"+sb.ID, now, out.Pod.CPUUsageCoreNanoSeconds)
	if sb.Pid > 0 && sb.NetnsPath != "" {
		for name, n := range netStats(sb.Pid) {
			out.Pod.Network = append(out.Pod.Network, backend.PodInterfaceStats{Name: name, RxBytes: n.RxBytes, RxErrors: n.RxErrors, TxBytes: n.TxBytes, TxErrors: n.TxErrors})
		}
	}
	return out
}

// podContainerStats are c's cgroup figures, its writable layer and the
// CRI attributes kept in its labels and name.
func (d *Daemon) podContainerStats(c *ctr.Container) backend.PodStats {
	now := time.Now()
	s := d.cgroupFigures(c, now)
	s.UsageNanoCores = d.podState.cpu.rate(c.ID, now, s.CPUUsageCoreNanoSeconds)
	c.Lock()
	labels, name := c.Config.Labels, c.Name
	c.Unlock()
	s.SandboxID = labels[backend.PodSandboxIDLabel]
	s.Labels, s.Annotations = criLabels(labels)
	s.Name, s.Attempt = podContainerName(name)
	wl := &s.WritableLayer
	wl.Mountpoint, wl.Timestamp = fsDir(c, "upper"), now
	filepath.WalkDir(wl.Mountpoint, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		wl.UsedInodes++
		if de.Type().IsRegular() {
			if info, err := de.Info(); err == nil {
				wl.UsedBytes += uint64(info.Size())
			}
		}
		return nil
	})
	return s
}

// cgroupFigures reads c's cgroup; a container that does not run has
// none, and zero figures.
func (d *Daemon) cgroupFigures(c *ctr.Container, now time.Time) backend.PodStats {
	s := backend.PodStats{ID: c.ID, Timestamp: now}
	c.Lock()
	running := c.State.Running
	c.Unlock()
	if !running {
		return s
	}
	cg, err := cgroups.New(d.cgroupPath(c))
	if err != nil {
		return s
	}
	st, err := cg.Stats()
	if err != nil {
		return s
	}
	statsFigures(st, &s)
	return s
}

// podCgroupFigures reads a pod's cgroup parent; false when there is none
// here (no parent, or a name that is not a cgroupfs path of this host:
// then the figures are sums).
func podCgroupFigures(parent string) (backend.PodStats, bool) {
	var s backend.PodStats
	if parent == "" {
		return s, false
	}
	cg, err := cgroups.New(parent)
	if err != nil {
		return s, false
	}
	if _, err := os.Stat(cg.Path("memory")); err != nil {
		return s, false
	}
	st, err := cg.Stats()
	if err != nil {
		return s, false
	}
	statsFigures(st, &s)
	return s, true
}

// statsFigures are the CRI's figures of a cgroup's statistics.
func statsFigures(st *cgroups.Stats, s *backend.PodStats) {
	m := st.Memory.Stats
	// v1 names its hierarchical figures total_*, v2 has only those.
	pick := func(v1, v2 string) uint64 {
		if v, ok := m[v1]; ok {
			return v
		}
		return m[v2]
	}
	s.CPUUsageCoreNanoSeconds = st.CPU.TotalUsage
	s.MemoryUsage = st.Memory.Usage
	s.MemoryRSS = pick("total_rss", "anon")
	s.PageFaults = pick("total_pgfault", "pgfault")
	s.MajorPageFaults = pick("total_pgmajfault", "pgmajfault")
	// The working set is what kubelet evicts on: usage less the page
	// cache the kernel can drop at once, as cadvisor counts it.
	inactive := pick("total_inactive_file", "inactive_file")
	if s.MemoryUsage > inactive {
		s.MemoryWorkingSet = s.MemoryUsage - inactive
	}
	if lim := st.Memory.Limit; lim > 0 && lim < 1<<62 && lim > s.MemoryWorkingSet {
		s.MemoryAvailable = lim - s.MemoryWorkingSet
	}
	s.Processes = st.Pids.Current
}

// podContainerType is c's io.kubernetes.docker.type label.
func podContainerType(c *ctr.Container) string {
	c.Lock()
	defer c.Unlock()
	if c.Config == nil {
		return ""
	}
	return c.Config.Labels[backend.PodContainerTypeLabel]
}

// criLabels splits a pod container's labels into the CRI labels and
// annotations, leaving out the engine's own.
func criLabels(all map[string]string) (labels, annotations map[string]string) {
	labels, annotations = map[string]string{}, map[string]string{}
	for k, v := range all {
		switch {
		case k == backend.PodContainerTypeLabel || k == backend.PodSandboxIDLabel || k == backend.PodLogPathLabel:
		case strings.HasPrefix(k, backend.PodAnnotationPrefix):
			annotations[strings.TrimPrefix(k, backend.PodAnnotationPrefix)] = v
		default:
			labels[k] = v
		}
	}
	return labels, annotations
}

// podContainerName reads the CRI name and attempt out of a container
// name k8s_<container>_<pod>_<namespace>_<uid>_<attempt>; none of those
// parts can hold "_".
func podContainerName(name string) (string, uint32) {
	parts := strings.Split(strings.TrimPrefix(name, "/"), "_")
	if len(parts) != 6 || parts[0] != "k8s" {
		return strings.TrimPrefix(name, "/"), 0
	}
	attempt, _ := strconv.ParseUint(parts[5], 10, 32)
	return parts[1], uint32(attempt)
}
