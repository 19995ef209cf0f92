package sysinfo

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Host is what the kernel and /etc/os-release say about this machine.
type Host struct {
	KernelVersion   string
	OperatingSystem string
	OSVersion       string
	Architecture    string
	NCPU            int
	MemTotal        int64
	Hostname        string
}

// ReadHost gathers Host. Missing sources leave fields empty, never fail.
func ReadHost() Host {
	h := Host{NCPU: runtime.NumCPU()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.KernelVersion = unix.ByteSliceToString(u.Release[:])
		h.Architecture = unix.ByteSliceToString(u.Machine[:])
		h.Hostname = unix.ByteSliceToString(u.Nodename[:])
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		h.MemTotal = int64(si.Totalram) * int64(si.Unit)
	}
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil && set.Count() > 0 {
		h.NCPU = set.Count()
	}
	h.OperatingSystem, h.OSVersion = osRelease()
	return h
}

func osRelease() (name, version string) {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		data, err = os.ReadFile("/usr/lib/os-release")
	}
	if err != nil {
		return "Linux", ""
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			vals[k] = strings.Trim(v, `"'`)
		}
	}
	name = vals["PRETTY_NAME"]
	if name == "" {
		name = vals["NAME"]
	}
	if name == "" {
		name = "Linux"
	}
	return name, vals["VERSION_ID"]
}

// Cgroups describes the cgroup hierarchy and the limits it can enforce.
type Cgroups struct {
	Version     string // "1" or "2"
	MemoryLimit bool
	SwapLimit   bool
	// MemoryReservation is a soft limit: v1 memory.soft_limit_in_bytes,
	// v2 memory.low.
	MemoryReservation bool
	OomKillDisable    bool
	CPUCfsPeriod      bool
	CPUCfsQuota       bool
	CPUShares         bool
	CPUSet            bool
	PidsLimit         bool
}

const cgroupRoot = "/sys/fs/cgroup"

// ReadCgroups probes the hierarchy mounted at /sys/fs/cgroup.
func ReadCgroups() Cgroups {
	var st unix.Statfs_t
	if unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return readV2()
	}
	return readV1()
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readV1() Cgroups {
	c := Cgroups{Version: "1"}
	mem := filepath.Join(cgroupRoot, "memory")
	c.MemoryLimit = exists(filepath.Join(mem, "memory.limit_in_bytes"))
	c.SwapLimit = exists(filepath.Join(mem, "memory.memsw.limit_in_bytes"))
	c.MemoryReservation = exists(filepath.Join(mem, "memory.soft_limit_in_bytes"))
	c.OomKillDisable = exists(filepath.Join(mem, "memory.oom_control"))
	cpu := filepath.Join(cgroupRoot, "cpu")
	c.CPUCfsPeriod = exists(filepath.Join(cpu, "cpu.cfs_period_us"))
	c.CPUCfsQuota = exists(filepath.Join(cpu, "cpu.cfs_quota_us"))
	c.CPUShares = exists(filepath.Join(cpu, "cpu.shares"))
	c.CPUSet = exists(filepath.Join(cgroupRoot, "cpuset", "cpuset.cpus"))
	c.PidsLimit = exists(filepath.Join(cgroupRoot, "pids"))
	return c
}

func readV2() Cgroups {
	c := Cgroups{Version: "2"}
	data, _ := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers"))
	ctrls := map[string]bool{}
	for _, f := range strings.Fields(string(data)) {
		ctrls[f] = true
	}
	c.MemoryLimit = ctrls["memory"]
	c.MemoryReservation = ctrls["memory"]
	// memory.swap.max exists only below the root; any child tells.
	if c.MemoryLimit {
		matches, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", "memory.swap.max"))
		c.SwapLimit = len(matches) > 0
	}
	c.CPUCfsPeriod = ctrls["cpu"]
	c.CPUCfsQuota = ctrls["cpu"]
	c.CPUShares = ctrls["cpu"]
	c.CPUSet = ctrls["cpuset"]
	c.PidsLimit = ctrls["pids"]
	return c
}

// IPv4Forwarding reports net.ipv4.ip_forward.
func IPv4Forwarding() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

var fsNames = map[int64]string{
	unix.EXT4_SUPER_MAGIC:      "extfs",
	unix.XFS_SUPER_MAGIC:       "xfs",
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
	0x2fc12fc1:                 "zfs",
	unix.F2FS_SUPER_MAGIC:      "f2fs",
	unix.NFS_SUPER_MAGIC:       "nfs",
	unix.RAMFS_MAGIC:           "ramfs",
}

// BackingFilesystem names the filesystem that holds dir, as dockerd's
// "Backing Filesystem" line does.
func BackingFilesystem(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "<unknown>"
	}
	if n, ok := fsNames[int64(st.Type)]; ok {
		return n
	}
	return "<unknown>"
}

// NumFDs counts this process's open file descriptors.
func NumFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}
