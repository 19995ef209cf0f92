package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Root is where the hierarchies are mounted.
const Root = "/sys/fs/cgroup"

// Manager drives one container's cgroup. Implementations: the cgroupfs
// driver for v1 and v2 (New); a systemd driver can follow.
type Manager interface {
	// Apply creates the cgroup if needed and moves pid into it.
	Apply(pid int) error
	// Set writes the resource limits; nil fields are left alone.
	Set(r *specs.LinuxResources) error
	// Pids lists the processes in the cgroup (and its descendants).
	Pids() ([]int, error)
	// Stats reads the counters docker stats shows.
	Stats() (*Stats, error)
	// Freeze stops every task (pause); Thaw resumes them.
	Freeze() error
	Thaw() error
	// Frozen reports whether the cgroup is frozen.
	Frozen() (bool, error)
	// OOMKills is how many processes the kernel OOM-killed in the cgroup.
	OOMKills() (uint64, error)
	// Destroy removes the cgroup; it fails while processes remain.
	Destroy() error
	// Path is the directory of a v1 controller ("memory") or, for v2, the
	// unified directory whatever the argument.
	Path(controller string) string
}

// SelfJoiner is a Manager that a new single-threaded process can join
// on its own, cheaper than Apply(pid) from its parent: see
// v1Manager.TaskFiles.
type SelfJoiner interface {
	TaskFiles() []string
}

// CloneTarget is a Manager that a process can be created in directly:
// clone3 with CLONE_INTO_CGROUP (cgroup v2, Linux 5.7) and the directory
// it opens. The process then never moves, which on a write of its PID to
// cgroup.procs would take the kernel's global threadgroup lock and wait
// out an RCU grace period (about 10 ms) per container start and exec.
type CloneTarget interface {
	OpenForClone() (*os.File, error)
}

var v2 = sync.OnceValue(func() bool {
	var st unix.Statfs_t
	if err := unix.Statfs(Root, &st); err != nil {
		return false
	}
	return st.Type == unix.CGROUP2_SUPER_MAGIC
})

// IsV2 reports whether the host runs the unified hierarchy.
func IsV2() bool { return v2() }

// New returns the cgroupfs manager for path, a cgroupsPath from the OCI
// spec. Relative paths are taken from the hierarchy root, as dockerd's
// cgroupfs driver passes "/docker/<id>"-style paths anyway.
func New(path string) (Manager, error) {
	if path == "" {
		return nil, errors.New("cgroups: empty path")
	}
	path = filepath.Clean("/" + path)
	if IsV2() {
		return &v2Manager{root: Root, dir: filepath.Join(Root, path)}, nil
	}
	return newV1(path)
}

// Stats is what docker stats and the container top/inspect paths need.
type Stats struct {
	CPU     CPUStats
	Memory  MemoryStats
	Pids    PidsStats
	IO      IOStats
	Read    time.Time
	Version int // 1 or 2
}

// CPUStats are cumulative; percentages are for the reader to compute.
type CPUStats struct {
	TotalUsage        uint64   // ns
	PercpuUsage       []uint64 // ns, v1 only
	UsageInKernelmode uint64   // ns
	UsageInUsermode   uint64   // ns
	ThrottlingPeriods uint64
	ThrottledPeriods  uint64
	ThrottledTime     uint64 // ns
	OnlineCPUs        uint32
}

// MemoryStats mirror dockerd's: the raw memory.stat table plus usage/limit.
type MemoryStats struct {
	Usage    uint64
	MaxUsage uint64
	Limit    uint64
	Failcnt  uint64
	Stats    map[string]uint64
}

// PidsStats is pids.current and pids.max (0 = unlimited).
type PidsStats struct {
	Current uint64
	Limit   uint64
}

// IOEntry is one line of blkio.io_service_bytes_recursive.
type IOEntry struct {
	Major, Minor uint64
	Op           string
	Value        uint64
}

// IOStats holds the bytes read and written per device.
type IOStats struct {
	ServiceBytes []IOEntry
}

func writeFile(dir, file, value string) error {
	err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0)
	if err != nil {
		return &os.PathError{Op: "write " + strconv.Quote(value), Path: filepath.Join(dir, file), Err: unwrapPathErr(err)}
	}
	return nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func readString(dir, file string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	return strings.TrimSpace(string(b)), err
}

func readUint(dir, file string) (uint64, error) {
	s, err := readString(dir, file)
	if err != nil {
		return 0, err
	}
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKV parses "key value" lines (memory.stat, cpu.stat, memory.events).
func readKV(dir, file string) (map[string]uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			m[f[0]] = v
		}
	}
	return m, nil
}

func readPids(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
		return nil
	})
	return pids, err
}

// removeTree removes dir and the cgroups below it, deepest first. rmdir
// on a cgroup fails with EBUSY while tasks exit, so it retries briefly.
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	delay := time.Millisecond
	for i := 0; ; i++ {
		err := unix.Rmdir(dir)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EBUSY || i == 12 {
			return &os.PathError{Op: "rmdir", Path: dir, Err: err}
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

func onlineCPUs() uint32 {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		return uint32(set.Count())
	}
	return 0
}

// SharesToWeight is the conversion runc and systemd use between v1
// cpu.shares (2..262144) and v2 cpu.weight (1..10000).
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	return 1 + ((shares-2)*9999)/262142
}

// BlkioWeightToIO converts v1 blkio.weight (10..1000) to v2 io.weight
// (1..10000).
func BlkioWeightToIO(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	return 1 + (uint64(w)-10)*9999/990
}
