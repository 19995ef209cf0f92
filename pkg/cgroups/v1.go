package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Controllers are the hierarchies a container joins. A host may mount
// several controllers together (cpu,cpuacct); each name then maps to the
// same directory, which is harmless.
var v1Controllers = []string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb", "net_cls", "net_prio", "perf_event", "name=systemd"}

type v1Manager struct {
	path  string
	paths map[string]string // controller -> directory
}

// Hierarchy is one mounted cgroup v1 hierarchy: where it is mounted and
// its super options (the controllers, "name=…", "rw"…).
type Hierarchy struct {
	MountPoint string
	Options    []string
}

// V1Hierarchies lists the cgroup v1 hierarchies mounted in this mount
// namespace, in /proc/self/mountinfo's order. They are read once per
// process (cgroup hierarchies are mounted at boot, not while berth runs):
// a shim asked for them twice per container start. Callers must not
// modify the result.
func V1Hierarchies() ([]Hierarchy, error) { return v1Hierarchies() }

var v1Hierarchies = sync.OnceValues(readV1Hierarchies)

// SetV1Hierarchies makes hs, what V1Hierarchies returned in an earlier
// image of this process, this one's answer, before any other use of the
// package. A reborn shim (pkg/shim) is handed them: /proc/self/mountinfo
// grows with every container's mounts, and reading it again would cost
// the shim the time and the memory of its parse.
func SetV1Hierarchies(hs []Hierarchy) {
	v1Hierarchies = func() ([]Hierarchy, error) { return hs, nil }
}

func readV1Hierarchies() ([]Hierarchy, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Hierarchy
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+3 || fields[sep+1] != "cgroup" {
			continue
		}
		out = append(out, Hierarchy{MountPoint: fields[4], Options: strings.Split(fields[sep+3], ",")})
	}
	return out, sc.Err()
}

// v1Mounts maps each controller to its mount point: the cgroup mount whose
// super options name it.
func v1Mounts() (map[string]string, error) {
	hs, err := V1Hierarchies()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, h := range hs {
		for _, opt := range h.Options {
			for _, c := range v1Controllers {
				if opt == c {
					if _, ok := m[c]; !ok {
						m[c] = h.MountPoint
					}
				}
			}
		}
	}
	return m, nil
}

func newV1(path string) (*v1Manager, error) {
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	if len(mounts) == 0 {
		return nil, errors.New("cgroups: no cgroup v1 controller is mounted")
	}
	paths := map[string]string{}
	for c, mp := range mounts {
		paths[c] = filepath.Join(mp, path)
	}
	return &v1Manager{path: path, paths: paths}, nil
}

func (m *v1Manager) Path(c string) string { return m.paths[c] }

func (m *v1Manager) Apply(pid int) error {
	for c, dir := range m.paths {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if c == "cpuset" {
			// A new v1 cpuset starts empty and refuses tasks until its
			// cpus and mems are set: inherit them from the nearest
			// ancestor that has them.
			if err := fillCpuset(dir); err != nil {
				return err
			}
		}
		if pid > 0 {
			if err := writeFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
				return err
			}
		}
	}
	return nil
}

// TaskFiles lists the tasks file of each hierarchy the cgroup is in
// (once per hierarchy, also where controllers share one). A
// single-threaded process joins the cgroup by writing "0" to each of
// them: moving only the calling thread, the kernel then skips the global
// threadgroup lock that a write to cgroup.procs takes, and with it an RCU
// grace period (about 10 ms here) per container start and exec. Apply(0)
// must have made the directories.
func (m *v1Manager) TaskFiles() []string {
	seen := map[string]bool{}
	var files []string
	for _, dir := range m.paths {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		files = append(files, filepath.Join(dir, "tasks"))
	}
	sort.Strings(files)
	return files
}

func fillCpuset(dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		v, err := readString(dir, f)
		if err != nil {
			return err
		}
		if v != "" {
			continue
		}
		parent := filepath.Dir(dir)
		pv, err := readString(parent, f)
		if err != nil {
			return err
		}
		if pv == "" {
			if err := fillCpuset(parent); err != nil {
				return err
			}
			if pv, err = readString(parent, f); err != nil {
				return err
			}
		}
		if err := writeFile(dir, f, pv); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if len(r.Unified) > 0 {
		return ErrV1NoUnified
	}
	if err := m.setMemory(r.Memory); err != nil {
		return err
	}
	if c := r.CPU; c != nil {
		dir := m.paths["cpu"]
		if c.Shares != nil && *c.Shares != 0 {
			if err := writeFile(dir, "cpu.shares", strconv.FormatUint(*c.Shares, 10)); err != nil {
				return err
			}
		}
		if c.Period != nil && *c.Period != 0 {
			if err := writeFile(dir, "cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10)); err != nil {
				return err
			}
		}
		if c.Quota != nil && *c.Quota != 0 {
			if err := writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10)); err != nil {
				return err
			}
		}
		if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
			if err := writeFile(dir, "cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10)); err != nil {
				return err
			}
		}
		if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
			if err := writeFile(dir, "cpu.rt_runtime_us", strconv.FormatInt(*c.RealtimeRuntime, 10)); err != nil {
				return err
			}
		}
		if c.Cpus != "" {
			if err := writeFile(m.paths["cpuset"], "cpuset.cpus", c.Cpus); err != nil {
				return err
			}
		}
		if c.Mems != "" {
			if err := writeFile(m.paths["cpuset"], "cpuset.mems", c.Mems); err != nil {
				return err
			}
		}
	}
	if p := r.Pids; p != nil {
		v := "max"
		if p.Limit != nil && *p.Limit > 0 {
			v = strconv.FormatInt(*p.Limit, 10)
		}
		if err := writeFile(m.paths["pids"], "pids.max", v); err != nil {
			return err
		}
	}
	if b := r.BlockIO; b != nil {
		dir := m.paths["blkio"]
		// CFQ had blkio.weight; with BFQ it is blkio.bfq.weight; with
		// neither (mq-deadline, none) the kernel has no weights at all.
		weightFile := "blkio.weight"
		if _, err := os.Stat(filepath.Join(dir, weightFile)); err != nil {
			weightFile = "blkio.bfq.weight"
		}
		_, statErr := os.Stat(filepath.Join(dir, weightFile))
		if (b.Weight != nil && *b.Weight != 0 || len(b.WeightDevice) > 0) && statErr != nil {
			return errors.New("cgroups: this kernel's I/O scheduler does not support blkio weights")
		}
		if b.Weight != nil && *b.Weight != 0 {
			if err := writeFile(dir, weightFile, strconv.Itoa(int(*b.Weight))); err != nil {
				return err
			}
		}
		for _, d := range b.WeightDevice {
			if d.Weight != nil {
				if err := writeFile(dir, weightFile+"_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)); err != nil {
					return err
				}
			}
		}
		for file, list := range map[string][]specs.LinuxThrottleDevice{
			"blkio.throttle.read_bps_device":   b.ThrottleReadBpsDevice,
			"blkio.throttle.write_bps_device":  b.ThrottleWriteBpsDevice,
			"blkio.throttle.read_iops_device":  b.ThrottleReadIOPSDevice,
			"blkio.throttle.write_iops_device": b.ThrottleWriteIOPSDevice,
		} {
			for _, d := range list {
				if err := writeFile(dir, file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
					return err
				}
			}
		}
	}
	if len(r.HugepageLimits) > 0 {
		// Not mounted: there is no directory to write to (and "" would
		// be the daemon's working directory).
		if m.paths["hugetlb"] == "" {
			return errors.New("cannot set hugetlb limit: container could not join or create cgroup")
		}
		if err := setHugetlb(m.paths["hugetlb"], "limit_in_bytes", r.HugepageLimits); err != nil {
			return err
		}
	}
	if len(r.Devices) > 0 {
		if err := m.setDevices(r.Devices); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1Manager) setMemory(mem *specs.LinuxMemory) error {
	if mem == nil {
		return nil
	}
	dir := m.paths["memory"]
	if mem.Limit != nil && *mem.Limit != 0 {
		limit := strconv.FormatInt(*mem.Limit, 10)
		swap := ""
		if mem.Swap != nil && *mem.Swap != 0 {
			swap = strconv.FormatInt(*mem.Swap, 10)
		}
		// memsw must stay >= the memory limit at every step, so the order
		// of the two writes depends on the direction of the change.
		err := writeFile(dir, "memory.limit_in_bytes", limit)
		if swap != "" {
			if _, statErr := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); statErr == nil {
				if err2 := writeFile(dir, "memory.memsw.limit_in_bytes", swap); err2 != nil {
					return err2
				}
				if err != nil {
					err = writeFile(dir, "memory.limit_in_bytes", limit)
				}
			}
		}
		if err != nil {
			return err
		}
	}
	if mem.Reservation != nil && *mem.Reservation != 0 {
		if err := writeFile(dir, "memory.soft_limit_in_bytes", strconv.FormatInt(*mem.Reservation, 10)); err != nil {
			return err
		}
	}
	if mem.Kernel != nil && *mem.Kernel != 0 {
		// Deprecated and refused by kernels >= 5.16 (EOPNOTSUPP); dockerd
		// ignores it there too.
		_ = writeFile(dir, "memory.kmem.limit_in_bytes", strconv.FormatInt(*mem.Kernel, 10))
	}
	if mem.Swappiness != nil && *mem.Swappiness <= 100 {
		if err := writeFile(dir, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return err
		}
	}
	if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
		if err := writeFile(dir, "memory.oom_control", "1"); err != nil {
			return err
		}
	}
	return nil
}

// setDevices writes the rules in order, after denying everything first
// when the first rule is a deny-all, which is how OCI specs express an
// allow-list.
func (m *v1Manager) setDevices(rules []specs.LinuxDeviceCgroup) error {
	dir := m.paths["devices"]
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := writeFile(dir, file, deviceRule(r)); err != nil {
			return err
		}
	}
	return nil
}

func deviceRule(r specs.LinuxDeviceCgroup) string {
	typ := r.Type
	if typ == "" {
		typ = "a"
	}
	num := func(p *int64) string {
		if p == nil || *p < 0 {
			return "*"
		}
		return strconv.FormatInt(*p, 10)
	}
	access := r.Access
	if access == "" {
		access = "rwm"
	}
	if typ == "a" {
		return "a"
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(r.Major), num(r.Minor), access)
}

func (m *v1Manager) Pids() ([]int, error) {
	for _, c := range []string{"pids", "freezer", "memory", "cpu"} {
		if dir, ok := m.paths[c]; ok {
			return readPids(dir)
		}
	}
	return nil, errors.New("cgroups: no controller to list tasks")
}

func (m *v1Manager) Stats() (*Stats, error) {
	s := &Stats{Read: time.Now(), Version: 1}
	if dir, ok := m.paths["cpuacct"]; ok {
		s.CPU.TotalUsage, _ = readUint(dir, "cpuacct.usage")
		if v, err := readString(dir, "cpuacct.usage_percpu"); err == nil {
			for _, f := range strings.Fields(v) {
				n, _ := strconv.ParseUint(f, 10, 64)
				s.CPU.PercpuUsage = append(s.CPU.PercpuUsage, n)
			}
		}
		if kv, err := readKV(dir, "cpuacct.stat"); err == nil {
			// USER_HZ ticks; dockerd converts the same way.
			s.CPU.UsageInUsermode = kv["user"] * 1e7
			s.CPU.UsageInKernelmode = kv["system"] * 1e7
		}
	}
	if kv, err := readKV(m.paths["cpu"], "cpu.stat"); err == nil {
		s.CPU.ThrottlingPeriods = kv["nr_periods"]
		s.CPU.ThrottledPeriods = kv["nr_throttled"]
		s.CPU.ThrottledTime = kv["throttled_time"]
	}
	s.CPU.OnlineCPUs = onlineCPUs()
	if dir, ok := m.paths["memory"]; ok {
		s.Memory.Usage, _ = readUint(dir, "memory.usage_in_bytes")
		s.Memory.MaxUsage, _ = readUint(dir, "memory.max_usage_in_bytes")
		s.Memory.Limit, _ = readUint(dir, "memory.limit_in_bytes")
		s.Memory.Failcnt, _ = readUint(dir, "memory.failcnt")
		s.Memory.Stats, _ = readKV(dir, "memory.stat")
	}
	if dir, ok := m.paths["pids"]; ok {
		s.Pids.Current, _ = readUint(dir, "pids.current")
		s.Pids.Limit, _ = readUint(dir, "pids.max")
	}
	if dir, ok := m.paths["blkio"]; ok {
		s.IO.ServiceBytes = readBlkio(dir, "blkio.throttle.io_service_bytes_recursive")
	}
	return s, nil
}

func readBlkio(dir, file string) []IOEntry {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil
	}
	var out []IOEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		var maj, min uint64
		if _, err := fmt.Sscanf(f[0], "%d:%d", &maj, &min); err != nil {
			continue
		}
		v, _ := strconv.ParseUint(f[2], 10, 64)
		out = append(out, IOEntry{Major: maj, Minor: min, Op: f[1], Value: v})
	}
	return out
}

func (m *v1Manager) freezer(state string) error {
	dir, ok := m.paths["freezer"]
	if !ok {
		return errors.New("cgroups: freezer controller not mounted")
	}
	for i := 0; i < 1000; i++ {
		if err := writeFile(dir, "freezer.state", state); err != nil {
			return err
		}
		cur, err := readString(dir, "freezer.state")
		if err != nil {
			return err
		}
		if cur == state {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("cgroups: freezer did not reach %s", state)
}

func (m *v1Manager) Freeze() error { return m.freezer("FROZEN") }
func (m *v1Manager) Thaw() error   { return m.freezer("THAWED") }

func (m *v1Manager) Frozen() (bool, error) {
	dir, ok := m.paths["freezer"]
	if !ok {
		return false, nil
	}
	s, err := readString(dir, "freezer.state")
	if os.IsNotExist(err) {
		return false, nil
	}
	return s == "FROZEN" || s == "FREEZING", err
}

func (m *v1Manager) OOMKills() (uint64, error) {
	kv, err := readKV(m.paths["memory"], "memory.oom_control")
	if err != nil {
		return 0, err
	}
	return kv["oom_kill"], nil
}

func (m *v1Manager) Destroy() error {
	var errs []error
	done := map[string]bool{}
	for _, dir := range m.paths {
		if done[dir] {
			continue
		}
		done[dir] = true
		if err := removeTree(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
