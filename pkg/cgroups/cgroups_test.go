package cgroups

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("cgroup tests need root")
		}
		t.Skip("cgroup tests need root")
	}
}

func TestConversions(t *testing.T) {
	if w := SharesToWeight(1024); w != 39 {
		t.Errorf("shares 1024 -> weight %d, want 39", w)
	}
	if w := BlkioWeightToIO(500); w != 4950 {
		t.Errorf("blkio 500 -> io %d, want 4950", w)
	}
}

func TestLimitsStatsFreezeDestroy(t *testing.T) {
	requireRoot(t)
	path := "/berth-test/cg-" + strconv.Itoa(os.Getpid())
	m, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if err := m.Destroy(); err != nil {
			t.Errorf("destroy: %v", err)
		}
		// The parent directory is this test's own; remove it too.
		parent, _ := New("/berth-test")
		_ = parent.Destroy()
	})
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	limit, pids, quota, period, shares := int64(64<<20), int64(42), int64(50000), uint64(100000), uint64(512)
	if err := m.Set(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit},
		Pids:   &specs.LinuxPids{Limit: &pids},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares},
	}); err != nil {
		t.Fatal(err)
	}
	if IsV2() {
		if v, _ := readString(m.Path(""), "cpu.max"); v != "50000 100000" {
			t.Errorf("cpu.max = %q", v)
		}
	} else if v, _ := readString(m.Path("cpu"), "cpu.cfs_quota_us"); v != "50000" {
		t.Errorf("cfs_quota_us = %q", v)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Limit != uint64(limit) || st.Pids.Limit != 42 || st.Pids.Current != 1 {
		t.Errorf("stats: memory limit %d pids %d/%d", st.Memory.Limit, st.Pids.Current, st.Pids.Limit)
	}
	got, err := m.Pids()
	if err != nil || len(got) != 1 || got[0] != cmd.Process.Pid {
		t.Errorf("Pids = %v, %v", got, err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	status, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "status"))
	if frozen, _ := m.Frozen(); !frozen {
		t.Errorf("not frozen; status: %s", strings.SplitN(string(status), "\n", 4)[2])
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if frozen, _ := m.Frozen(); frozen {
		t.Error("still frozen after thaw")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "pids", "cpu"} {
		if _, err := os.Stat(m.Path(c)); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", m.Path(c), err)
		}
	}
}

func TestBlkioThrottle(t *testing.T) {
	requireRoot(t)
	if IsV2() {
		t.Skip("v1 file names")
	}
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	major, minor := int64(unix.Major(st.Dev)), int64(unix.Minor(st.Dev))
	if major == 0 {
		t.Skip("root is not on a block device")
	}
	m, err := New("/berth-test-blkio-" + strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Destroy() })
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	r := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 1 << 20}},
	}}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	got, _ := readString(m.Path("blkio"), "blkio.throttle.read_bps_device")
	if got != fmt.Sprintf("%d:%d 1048576", major, minor) {
		t.Fatalf("read_bps_device = %q", got)
	}
}
