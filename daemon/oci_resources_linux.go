package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/runtime"
)

func (d *Daemon) setRlimits(s *specs.Spec, hc *container.HostConfig) error {
	limits := map[string]specs.POSIXRlimit{}
	soft, hard := defaultNofile()
	limits["RLIMIT_NOFILE"] = specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: soft, Hard: hard}
	add := func(name string, soft, hard int64) error {
		t := "RLIMIT_" + strings.ToUpper(name)
		if _, ok := rlimitNames[t]; !ok {
			return errdefs.InvalidParameterf("invalid ulimit type: %s", name)
		}
		limits[t] = specs.POSIXRlimit{Type: t, Soft: uint64(soft), Hard: uint64(hard)}
		return nil
	}
	for _, u := range d.Config().DefaultUlimits {
		if err := add(u.Name, u.Soft, u.Hard); err != nil {
			return err
		}
	}
	for _, u := range hc.Ulimits {
		if err := add(u.Name, u.Soft, u.Hard); err != nil {
			return err
		}
	}
	s.Process.Rlimits = nil
	for _, name := range sortedKeys(limits) {
		s.Process.Rlimits = append(s.Process.Rlimits, limits[name])
	}
	return nil
}

var rlimitNames = map[string]bool{
	"RLIMIT_AS": true, "RLIMIT_CORE": true, "RLIMIT_CPU": true, "RLIMIT_DATA": true,
	"RLIMIT_FSIZE": true, "RLIMIT_LOCKS": true, "RLIMIT_MEMLOCK": true, "RLIMIT_MSGQUEUE": true,
	"RLIMIT_NICE": true, "RLIMIT_NOFILE": true, "RLIMIT_NPROC": true, "RLIMIT_RSS": true,
	"RLIMIT_RTPRIO": true, "RLIMIT_RTTIME": true, "RLIMIT_SIGPENDING": true, "RLIMIT_STACK": true,
}

func setResources(s *specs.Spec, hc *container.HostConfig) error {
	r := hc.Resources
	res := s.Linux.Resources
	if r.Memory != 0 || r.MemoryReservation != 0 || r.MemorySwap != 0 || r.MemorySwappiness != nil || (r.OomKillDisable != nil && *r.OomKillDisable) {
		m := &specs.LinuxMemory{}
		if r.Memory != 0 {
			m.Limit = &r.Memory
		}
		if r.MemoryReservation != 0 {
			m.Reservation = &r.MemoryReservation
		}
		if r.MemorySwap != 0 {
			m.Swap = &r.MemorySwap
		}
		if r.MemorySwappiness != nil && *r.MemorySwappiness >= 0 {
			v := uint64(*r.MemorySwappiness)
			m.Swappiness = &v
		}
		m.DisableOOMKiller = r.OomKillDisable
		res.Memory = m
	}
	cpu := &specs.LinuxCPU{}
	used := false
	if r.CPUShares != 0 {
		v := uint64(r.CPUShares)
		cpu.Shares = &v
		used = true
	}
	if r.NanoCPUs != 0 {
		period := uint64(100000)
		quota := r.NanoCPUs * int64(period) / 1e9
		cpu.Period, cpu.Quota = &period, &quota
		used = true
	}
	if r.CPUPeriod != 0 {
		v := uint64(r.CPUPeriod)
		cpu.Period = &v
		used = true
	}
	if r.CPUQuota != 0 {
		v := r.CPUQuota
		cpu.Quota = &v
		used = true
	}
	if r.CpusetCpus != "" || r.CpusetMems != "" {
		cpu.Cpus, cpu.Mems = r.CpusetCpus, r.CpusetMems
		used = true
	}
	if r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0 {
		p := uint64(r.CPURealtimePeriod)
		rt := r.CPURealtimeRuntime
		cpu.RealtimePeriod, cpu.RealtimeRuntime = &p, &rt
		used = true
	}
	if used {
		res.CPU = cpu
	}
	if r.PidsLimit != nil && *r.PidsLimit != 0 {
		res.Pids = &specs.LinuxPids{Limit: r.PidsLimit}
	}
	blk := &specs.LinuxBlockIO{}
	blkUsed := false
	if r.BlkioWeight != 0 {
		w := r.BlkioWeight
		blk.Weight = &w
		blkUsed = true
	}
	for _, wd := range r.BlkioWeightDevice {
		major, minor, err := deviceNumbers(wd.Path)
		if err != nil {
			return err
		}
		w := wd.Weight
		blk.WeightDevice = append(blk.WeightDevice, specs.LinuxWeightDevice{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Weight: &w})
		blkUsed = true
	}
	throttle := func(list []*blkiodev.ThrottleDevice) ([]specs.LinuxThrottleDevice, error) {
		var out []specs.LinuxThrottleDevice
		for _, t := range list {
			major, minor, err := deviceNumbers(t.Path)
			if err != nil {
				return nil, err
			}
			out = append(out, specs.LinuxThrottleDevice{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: t.Rate})
		}
		return out, nil
	}
	var err error
	if blk.ThrottleReadBpsDevice, err = throttle(r.BlkioDeviceReadBps); err != nil {
		return err
	}
	if blk.ThrottleWriteBpsDevice, err = throttle(r.BlkioDeviceWriteBps); err != nil {
		return err
	}
	if blk.ThrottleReadIOPSDevice, err = throttle(r.BlkioDeviceReadIOps); err != nil {
		return err
	}
	if blk.ThrottleWriteIOPSDevice, err = throttle(r.BlkioDeviceWriteIOps); err != nil {
		return err
	}
	if blkUsed || len(blk.ThrottleReadBpsDevice)+len(blk.ThrottleWriteBpsDevice)+len(blk.ThrottleReadIOPSDevice)+len(blk.ThrottleWriteIOPSDevice) > 0 {
		res.BlockIO = blk
	}
	return nil
}

func deviceNumbers(path string) (int64, int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, errdefs.InvalidParameterf("error gathering device information while adding custom device %q: %v", path, err)
	}
	return int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev)), nil
}

func setShmAndTmpfs(s *specs.Spec, hc *container.HostConfig) {
	for i, m := range s.Mounts {
		if m.Destination == "/dev/shm" {
			if hc.IpcMode.IsHost() {
				s.Mounts[i] = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "nosuid", "noexec", "nodev"}}
				continue
			}
			s.Mounts[i].Options = []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(hc.ShmSize, 10)}
		}
	}
	// --tmpfs mounts come with the other mounts from the volume layer,
	// which validates them against -v and --mount.
}

func setDevices(s *specs.Spec, hc *container.HostConfig) error {
	for _, dm := range hc.Devices {
		perms := dm.CgroupPermissions
		if perms == "" {
			perms = "rwm"
		}
		dst := dm.PathInContainer
		if dst == "" {
			dst = dm.PathOnHost
		}
		dev, rule, err := runtime.DeviceFromPath(dm.PathOnHost, dst, perms)
		if err != nil {
			return err
		}
		s.Linux.Devices = append(s.Linux.Devices, dev)
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rule)
	}
	for _, rule := range hc.DeviceCgroupRules {
		r, err := parseDeviceRule(rule)
		if err != nil {
			return err
		}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, r)
	}
	return nil
}

// parseDeviceRule reads "c 1:3 rwm" (with * wildcards).
func parseDeviceRule(rule string) (specs.LinuxDeviceCgroup, error) {
	bad := errdefs.InvalidParameterf("invalid device cgroup rule format: '%s'", rule)
	f := strings.Fields(rule)
	if len(f) != 3 || (f[0] != "a" && f[0] != "b" && f[0] != "c") {
		return specs.LinuxDeviceCgroup{}, bad
	}
	majS, minS, ok := strings.Cut(f[1], ":")
	if !ok || strings.Trim(f[2], "rwm") != "" {
		return specs.LinuxDeviceCgroup{}, bad
	}
	num := func(s string) (*int64, bool) {
		if s == "*" {
			v := int64(-1)
			return &v, true
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return &v, err == nil
	}
	maj, ok1 := num(majS)
	min, ok2 := num(minS)
	if !ok1 || !ok2 {
		return specs.LinuxDeviceCgroup{}, bad
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: f[0], Major: maj, Minor: min, Access: f[2]}, nil
}

// hostDevices lists the host's device nodes for --privileged.
func hostDevices() []specs.LinuxDevice {
	var out []specs.LinuxDevice
	filepath.WalkDir("/dev", func(p string, de os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if de.IsDir() {
			switch p {
			case "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/.lxc", "/dev/.udev":
				return filepath.SkipDir
			}
			return nil
		}
		if p == "/dev/console" || p == "/dev/ptmx" {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil
		}
		if dev, ok := runtime.DeviceNode(p, &st); ok {
			out = append(out, dev)
		}
		return nil
	})
	return out
}
