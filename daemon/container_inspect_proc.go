package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/containerfs"
	"github.com/berthd/berth/pkg/errdefs"
)

// runningContainer resolves ref and checks it is running, with dockerd's
// message.
func (d *Daemon) runningContainer(ref string) (*ctr.Container, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	c.Lock()
	defer c.Unlock()
	if !c.State.Running || c.State.Restarting {
		return nil, errdefs.Conflictf("container %s is not running", c.ID)
	}
	return c, nil
}

// ContainerTop answers GET /containers/{id}/top: the host's ps with the
// given arguments, limited to the container's processes, as dockerd does.
func (d *Daemon) ContainerTop(ctx context.Context, ref, psArgs string) (*container.TopResponse, error) {
	if psArgs == "" {
		psArgs = "-ef"
	}
	c, err := d.runningContainer(ref)
	if err != nil {
		return nil, err
	}
	cg, err := cgroups.New(d.cgroupPath(c))
	if err != nil {
		return nil, errdefs.System(err)
	}
	pids, err := cg.Pids()
	if err != nil {
		return nil, errdefs.System(err)
	}
	waitExecDone(pids)
	out, err := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		return nil, errdefs.System(fmt.Errorf("ps: %w", err))
	}
	resp, err := parsePS(out, pids)
	if err != nil {
		return nil, err
	}
	d.logContainerEvent(c, events.ActionTop, nil)
	return resp, nil
}

// waitExecDone gives a process that is still berth's init stage (a start
// returns once the process is released, a moment before its execve) up to
// 100 ms to become the user's command, so that top shows the command.
func waitExecDone(pids []int) {
	deadline := time.Now().Add(100 * time.Millisecond)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if err != nil || !strings.HasPrefix(exe, "/memfd:") {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// parsePS keeps the ps lines whose PID column names one of pids.
func parsePS(out []byte, pids []int) (*container.TopResponse, error) {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	titles := strings.Fields(lines[0])
	col := -1
	for i, t := range titles {
		if t == "PID" {
			col = i
		}
	}
	if col < 0 {
		return nil, errdefs.InvalidParameterf("Couldn't find PID field in ps output")
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	resp := &container.TopResponse{Titles: titles, Processes: [][]string{}}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= col {
			continue
		}
		pid, err := strconv.Atoi(f[col])
		if err != nil || !want[pid] {
			continue
		}
		// The last column (the command) may contain spaces.
		row := append([]string{}, f[:len(titles)-1]...)
		row = append(row, strings.Join(f[len(titles)-1:], " "))
		resp.Processes = append(resp.Processes, row)
	}
	return resp, nil
}

// systemCPUUsage is the host's total CPU time in nanoseconds, from
// /proc/stat, which docker stats divides the container's usage by.
func systemCPUUsage() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 1 && fs[0] == "cpu" {
			var total uint64
			for _, v := range fs[1:8] {
				n, _ := strconv.ParseUint(v, 10, 64)
				total += n
			}
			// USER_HZ is 100 on Linux.
			return total * uint64(time.Second/100)
		}
	}
	return 0
}

// statsOnce samples c's cgroup.
func (d *Daemon) statsOnce(c *ctr.Container) (container.StatsResponse, error) {
	var s container.StatsResponse
	cg, err := cgroups.New(d.cgroupPath(c))
	if err != nil {
		return s, err
	}
	st, err := cg.Stats()
	if err != nil {
		return s, err
	}
	s.ID, s.Name, s.OSType, s.Read = c.ID, c.Name, "linux", time.Now()
	s.CPUStats = container.CPUStats{
		CPUUsage: container.CPUUsage{
			TotalUsage: st.CPU.TotalUsage, PercpuUsage: st.CPU.PercpuUsage,
			UsageInKernelmode: st.CPU.UsageInKernelmode, UsageInUsermode: st.CPU.UsageInUsermode,
		},
		SystemUsage:    systemCPUUsage(),
		OnlineCPUs:     st.CPU.OnlineCPUs,
		ThrottlingData: container.ThrottlingData{Periods: st.CPU.ThrottlingPeriods, ThrottledPeriods: st.CPU.ThrottledPeriods, ThrottledTime: st.CPU.ThrottledTime},
	}
	if s.CPUStats.OnlineCPUs == 0 {
		var set unix.CPUSet
		if unix.SchedGetaffinity(0, &set) == nil {
			s.CPUStats.OnlineCPUs = uint32(set.Count())
		}
	}
	s.MemoryStats = container.MemoryStats{Usage: st.Memory.Usage, MaxUsage: st.Memory.MaxUsage, Limit: st.Memory.Limit, Failcnt: st.Memory.Failcnt, Stats: st.Memory.Stats}
	if s.MemoryStats.Limit == 0 || s.MemoryStats.Limit > 1<<62 {
		var si unix.Sysinfo_t
		if unix.Sysinfo(&si) == nil {
			s.MemoryStats.Limit = uint64(si.Totalram) * uint64(si.Unit)
		}
	}
	s.PidsStats = container.PidsStats{Current: st.Pids.Current, Limit: st.Pids.Limit}
	s.NumProcs = 0
	for _, e := range st.IO.ServiceBytes {
		s.BlkioStats.IoServiceBytesRecursive = append(s.BlkioStats.IoServiceBytesRecursive, container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	s.Networks = netStats(c.State.Pid)
	return s, nil
}

// netStats reads the interface counters inside the container's network
// namespace through /proc/PID/net/dev.
func netStats(pid int) map[string]container.NetworkStats {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return nil
	}
	out := map[string]container.NetworkStats{}
	for _, line := range strings.Split(string(b), "\n")[2:] {
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
		out[name] = container.NetworkStats{RxBytes: n(0), RxPackets: n(1), RxErrors: n(2), RxDropped: n(3), TxBytes: n(8), TxPackets: n(9), TxErrors: n(10), TxDropped: n(11)}
	}
	return out
}

// ContainerStats answers GET /containers/{id}/stats: one sample with the
// previous one in precpu (one-shot skips the wait), or a stream each second.
func (d *Daemon) ContainerStats(ctx context.Context, ref string, stream, oneShot bool, w io.Writer) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	flush := func() {
		if f, ok := w.(interface{ Flush() }); ok {
			f.Flush()
		}
	}
	var prev container.StatsResponse
	first := true
	for {
		c.Lock()
		running := c.State.Running
		c.Unlock()
		var cur container.StatsResponse
		if running {
			if cur, err = d.statsOnce(c); err != nil {
				running = false
			}
		}
		if !running {
			// dockerd sends zeroed stats for a stopped container.
			cur = container.StatsResponse{ID: c.ID, Name: c.Name, OSType: "linux"}
			if !stream {
				return enc.Encode(cur)
			}
		}
		if first && !stream && !oneShot && running {
			// Without one-shot, the single sample carries a real precpu.
			prev = cur
			first = false
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		cur.PreCPUStats, cur.PreRead = prev.CPUStats, prev.Read
		if err := enc.Encode(cur); err != nil {
			return nil
		}
		flush()
		if !stream {
			return nil
		}
		prev, first = cur, false
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil
		}
	}
}

// runtimeOwnedPaths are the mount points and generated files the runtime
// creates in the root.
var runtimeOwnedPaths = map[string]bool{
	"/dev": true, "/proc": true, "/sys": true, "/.dockerenv": true,
	"/etc/hostname": true, "/etc/hosts": true, "/etc/resolv.conf": true,
}

// onlyRuntimeOwned reports whether the upper /etc holds nothing but the
// runtime's mount points, i.e. the container did not touch /etc.
func onlyRuntimeOwned(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !runtimeOwnedPaths["/etc/"+e.Name()] {
			return false
		}
	}
	return true
}

// ContainerChanges answers GET /containers/{id}/changes: what the writable
// layer holds against the image, as `docker diff` lists it.
func (d *Daemon) ContainerChanges(ctx context.Context, ref string) (_ []container.FilesystemChange, err error) {
	defer timed(d.metrics.ContainerAction, "changes", &err)()
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	c.Lock()
	upper := fsDir(c, "upper")
	c.Unlock()
	held, err := d.images.HeldRootFS(c.ID)
	if err != nil {
		return nil, err
	}
	etc := imageEtc(held)
	lowers := openLowerDirs(held.LowerDirs)
	defer func() {
		for _, l := range lowers {
			l.Close()
		}
	}()
	var changes []container.FilesystemChange
	err = filepath.WalkDir(upper, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == upper {
			return nil
		}
		rel := "/" + strings.TrimPrefix(p, upper+"/")
		info, err := de.Info()
		if err != nil {
			return nil
		}
		// An overlay whiteout (0/0 char device) is a deletion, also of
		// what the init layer provides (/.dockerenv).
		if st, ok := info.Sys().(*syscall.Stat_t); ok && info.Mode()&os.ModeCharDevice != 0 && st.Rdev == 0 {
			changes = append(changes, container.FilesystemChange{Kind: container.ChangeDelete, Path: rel})
			return nil
		}
		if runtimeOwnedPaths[rel] {
			// Made by the runtime, not the container: dockerd keeps these
			// in an init layer below the writable one, so diff never
			// shows them.
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if rel == "/etc" && onlyRuntimeOwned(p) && etc.same(info) {
			return nil
		}
		kind := container.ChangeAdd
		if inLowerDirs(lowers, rel) {
			kind = container.ChangeModify
		}
		changes = append(changes, container.FilesystemChange{Kind: kind, Path: rel})
		return nil
	})
	if err != nil {
		return nil, errdefs.System(err)
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	return changes, nil
}

// openLowerDirs opens an image's layer directories for inLowerDirs; one
// that cannot be opened is left out.
func openLowerDirs(dirs []string) []*os.File {
	var out []*os.File
	for _, d := range dirs {
		if f, err := os.OpenFile(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// inLowerDirs reports whether a layer has rel. The layers are image
// content: a symlink on the way (etc -> /host/path) is resolved beneath
// the layer, never on the host, whose paths it would otherwise probe (and
// whose automounts it could trigger); the last component is not followed.
func inLowerDirs(lowers []*os.File, rel string) bool {
	dir, base := filepath.Split(filepath.Clean("/" + rel))
	if base == "" {
		return false
	}
	for _, lower := range lowers {
		parent, err := containerfs.OpenInRoot(lower, dir, unix.O_PATH|unix.O_DIRECTORY, 0, "lstat")
		if err != nil {
			continue
		}
		var st unix.Stat_t
		err = unix.Fstatat(int(parent.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
		parent.Close()
		if err == nil {
			return true
		}
	}
	return false
}
