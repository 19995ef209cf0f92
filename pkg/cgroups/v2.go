package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

type v2Manager struct {
	root string // the cgroup2 mount point
	dir  string
}

func (m *v2Manager) Path(string) string { return m.dir }

// OpenForClone opens the cgroup's directory for clone3's
// CLONE_INTO_CGROUP (see CloneTarget). Apply(0) must have made it.
func (m *v2Manager) OpenForClone() (*os.File, error) {
	fd, err := unix.Open(m.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: m.dir, Err: err}
	}
	return os.NewFile(uintptr(fd), m.dir), nil
}

// enableControllers turns on, in every ancestor's subtree_control, each
// controller the root offers, so that the leaf gets memory.max, pids.max …
// Controllers a parent cannot delegate are skipped rather than fatal.
func (m *v2Manager) enableControllers() error {
	avail, err := readString(m.root, "cgroup.controllers")
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(m.root, m.dir)
	if err != nil {
		return err
	}
	dir := m.root
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		for _, c := range strings.Fields(avail) {
			_ = writeFile(dir, "cgroup.subtree_control", "+"+c)
		}
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			return err
		}
	}
	return nil
}

func (m *v2Manager) Apply(pid int) error {
	if err := m.enableControllers(); err != nil {
		return err
	}
	if pid > 0 {
		return writeFile(m.dir, "cgroup.procs", strconv.Itoa(pid))
	}
	return nil
}

func (m *v2Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if mem := r.Memory; mem != nil {
		if mem.Limit != nil && *mem.Limit != 0 {
			v := "max"
			if *mem.Limit > 0 {
				v = strconv.FormatInt(*mem.Limit, 10)
			}
			if err := writeFile(m.dir, "memory.max", v); err != nil {
				return err
			}
			// v1's memsw is memory+swap; v2's swap.max is swap alone.
			if mem.Swap != nil && *mem.Swap != 0 {
				sv := "max"
				if *mem.Swap > 0 && *mem.Limit > 0 {
					sv = strconv.FormatInt(max(*mem.Swap-*mem.Limit, 0), 10)
				}
				if err := writeFile(m.dir, "memory.swap.max", sv); err != nil && !os.IsNotExist(unwrapPathErr(err)) {
					return err
				}
			}
		}
		if mem.Reservation != nil && *mem.Reservation != 0 {
			if err := writeFile(m.dir, "memory.low", strconv.FormatInt(*mem.Reservation, 10)); err != nil {
				return err
			}
		}
		// oom_kill_disable has no v2 equivalent; dockerd warns and goes on.
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			if err := writeFile(m.dir, "cpu.weight", strconv.FormatUint(SharesToWeight(*c.Shares), 10)); err != nil {
				return err
			}
		}
		if (c.Quota != nil && *c.Quota != 0) || (c.Period != nil && *c.Period != 0) {
			quota, period := "max", uint64(100000)
			if c.Quota != nil && *c.Quota > 0 {
				quota = strconv.FormatInt(*c.Quota, 10)
			}
			if c.Period != nil && *c.Period != 0 {
				period = *c.Period
			}
			if err := writeFile(m.dir, "cpu.max", fmt.Sprintf("%s %d", quota, period)); err != nil {
				return err
			}
		}
		if c.Cpus != "" {
			if err := writeFile(m.dir, "cpuset.cpus", c.Cpus); err != nil {
				return err
			}
		}
		if c.Mems != "" {
			if err := writeFile(m.dir, "cpuset.mems", c.Mems); err != nil {
				return err
			}
		}
	}
	if p := r.Pids; p != nil {
		v := "max"
		if p.Limit != nil && *p.Limit > 0 {
			v = strconv.FormatInt(*p.Limit, 10)
		}
		if err := writeFile(m.dir, "pids.max", v); err != nil {
			return err
		}
	}
	if b := r.BlockIO; b != nil {
		if b.Weight != nil && *b.Weight != 0 {
			if err := writeFile(m.dir, "io.weight", strconv.FormatUint(BlkioWeightToIO(*b.Weight), 10)); err != nil {
				return err
			}
		}
		for key, list := range map[string][]specs.LinuxThrottleDevice{
			"rbps": b.ThrottleReadBpsDevice, "wbps": b.ThrottleWriteBpsDevice,
			"riops": b.ThrottleReadIOPSDevice, "wiops": b.ThrottleWriteIOPSDevice,
		} {
			for _, d := range list {
				if err := writeFile(m.dir, "io.max", fmt.Sprintf("%d:%d %s=%d", d.Major, d.Minor, key, d.Rate)); err != nil {
					return err
				}
			}
		}
	}
	if err := setHugetlb(m.dir, "max", r.HugepageLimits); err != nil {
		return err
	}
	if len(r.Devices) > 0 {
		if err := attachDeviceFilter(m.dir, r.Devices); err != nil {
			return err
		}
	}
	// Last, as runc: a unified key overrides what the fields above wrote.
	return setUnified(m.dir, r.Unified, func() string {
		c, _ := readString(m.dir, "cgroup.controllers")
		return c
	})
}

func (m *v2Manager) Pids() ([]int, error) { return readPids(m.dir) }

func (m *v2Manager) Stats() (*Stats, error) {
	s := &Stats{Read: time.Now(), Version: 2}
	if kv, err := readKV(m.dir, "cpu.stat"); err == nil {
		s.CPU.TotalUsage = kv["usage_usec"] * 1000
		s.CPU.UsageInUsermode = kv["user_usec"] * 1000
		s.CPU.UsageInKernelmode = kv["system_usec"] * 1000
		s.CPU.ThrottlingPeriods = kv["nr_periods"]
		s.CPU.ThrottledPeriods = kv["nr_throttled"]
		s.CPU.ThrottledTime = kv["throttled_usec"] * 1000
	}
	s.CPU.OnlineCPUs = onlineCPUs()
	s.Memory.Usage, _ = readUint(m.dir, "memory.current")
	s.Memory.MaxUsage, _ = readUint(m.dir, "memory.peak")
	s.Memory.Limit, _ = readUint(m.dir, "memory.max")
	s.Memory.Stats, _ = readKV(m.dir, "memory.stat")
	if ev, err := readKV(m.dir, "memory.events"); err == nil {
		s.Memory.Failcnt = ev["max"]
	}
	s.Pids.Current, _ = readUint(m.dir, "pids.current")
	s.Pids.Limit, _ = readUint(m.dir, "pids.max")
	if b, err := os.ReadFile(filepath.Join(m.dir, "io.stat")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			var maj, min uint64
			if _, err := fmt.Sscanf(f[0], "%d:%d", &maj, &min); err != nil {
				continue
			}
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				n, _ := strconv.ParseUint(v, 10, 64)
				switch k {
				case "rbytes":
					s.IO.ServiceBytes = append(s.IO.ServiceBytes, IOEntry{maj, min, "read", n})
				case "wbytes":
					s.IO.ServiceBytes = append(s.IO.ServiceBytes, IOEntry{maj, min, "write", n})
				}
			}
		}
	}
	return s, nil
}

func (m *v2Manager) setFrozen(v string) error {
	if err := writeFile(m.dir, "cgroup.freeze", v); err != nil {
		return err
	}
	want := "frozen " + v
	for i := 0; i < 1000; i++ {
		ev, err := readString(m.dir, "cgroup.events")
		if err != nil {
			return err
		}
		if strings.Contains(ev, want) {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("cgroups: %s did not reach %q", m.dir, want)
}

func (m *v2Manager) Freeze() error { return m.setFrozen("1") }
func (m *v2Manager) Thaw() error   { return m.setFrozen("0") }

func (m *v2Manager) Frozen() (bool, error) {
	v, err := readString(m.dir, "cgroup.freeze")
	if os.IsNotExist(err) {
		return false, nil
	}
	return v == "1", err
}

func (m *v2Manager) OOMKills() (uint64, error) {
	kv, err := readKV(m.dir, "memory.events")
	if err != nil {
		return 0, err
	}
	return kv["oom_kill"], nil
}

func (m *v2Manager) Destroy() error { return removeTree(m.dir) }
