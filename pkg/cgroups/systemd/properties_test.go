package systemd

import (
	"bytes"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func propMap(t *testing.T, r *specs.LinuxResources, v2 bool) map[string]any {
	t.Helper()
	m := map[string]any{}
	for _, p := range ResourceProperties(r, v2) {
		if _, dup := m[p.Name]; dup {
			t.Fatalf("%s twice", p.Name)
		}
		m[p.Name] = p.Value.Value()
	}
	return m
}

func TestResourceProperties(t *testing.T) {
	shares, period := uint64(512), uint64(100000)
	quota := int64(150000)
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: num(64 << 20), Reservation: num(32 << 20), Swap: num(128 << 20)},
		CPU:     &specs.LinuxCPU{Shares: &shares, Quota: &quota, Period: &period, Cpus: "0-1,3"},
		Pids:    &specs.LinuxPids{Limit: num(33)},
		BlockIO: &specs.LinuxBlockIO{Weight: func() *uint16 { w := uint16(500); return &w }()},
	}
	v1 := propMap(t, r, false)
	for k, want := range map[string]any{
		"MemoryLimit": uint64(64 << 20), "CPUShares": uint64(512), "TasksMax": uint64(33), "BlockIOWeight": uint64(500),
		"CPUQuotaPerSecUSec": uint64(1500000), "CPUQuotaPeriodUSec": uint64(100000),
	} {
		if v1[k] != want {
			t.Errorf("v1 %s = %v, want %v", k, v1[k], want)
		}
	}
	if _, ok := v1["AllowedCPUs"]; ok {
		t.Error("v1: AllowedCPUs (systemd has no cpuset controller on v1)")
	}
	v2 := propMap(t, r, true)
	for k, want := range map[string]any{
		"MemoryMax": uint64(64 << 20), "MemoryLow": uint64(32 << 20), "MemorySwapMax": uint64(64 << 20),
		"CPUWeight": uint64(20), "TasksMax": uint64(33), "IOWeight": uint64(4950),
	} {
		if v2[k] != want {
			t.Errorf("v2 %s = %v, want %v", k, v2[k], want)
		}
	}
	if m, _ := v2["AllowedCPUs"].([]byte); !bytes.Equal(m, []byte{0b1011}) {
		t.Errorf("AllowedCPUs %v", v2["AllowedCPUs"])
	}
}

func TestCPUQuotaRoundsUpToTenMilliseconds(t *testing.T) {
	period := uint64(100000)
	quota := int64(12345) // 123450 µs per second
	p := propMap(t, &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &quota, Period: &period}}, false)
	if p["CPUQuotaPerSecUSec"] != uint64(130000) {
		t.Fatalf("%v", p["CPUQuotaPerSecUSec"])
	}
	// Lifted limits say "infinity".
	p = propMap(t, &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: num(-1), Period: &period}, Pids: &specs.LinuxPids{}}, false)
	if p["CPUQuotaPerSecUSec"] != infinity || p["TasksMax"] != infinity {
		t.Fatalf("%v", p)
	}
}

func TestCPUMask(t *testing.T) {
	for in, want := range map[string][]byte{"0": {1}, "1-3": {0b1110}, "0,8": {1, 1}, "": nil, "x": nil, "3-1": nil} {
		if got := cpuMask(in); !bytes.Equal(got, want) {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}
