package systemd

import (
	"math"
	"math/big"
	"strconv"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/cgroups"
)

// infinity is how a systemd property says "no limit".
const infinity = uint64(math.MaxUint64)

func prop(name string, v any) sddbus.Property {
	return sddbus.Property{Name: name, Value: godbus.MakeVariant(v)}
}

// ScopeProperties are a new scope's properties: its slice, description
// and first process, delegation (the container's cgroup is the container's:
// systemd creates nothing below it), and r's limits.
func ScopeProperties(slice, description string, pid int, r *specs.LinuxResources, v2 bool) []sddbus.Property {
	props := []sddbus.Property{
		sddbus.PropSlice(slice),
		sddbus.PropPids(uint32(pid)),
		sddbus.PropDescription(description),
		prop("Delegate", true),
		// No ordering against shutdown.target & co: a container's scope
		// is not part of the boot transaction.
		prop("DefaultDependencies", false),
		prop("MemoryAccounting", true),
		prop("CPUAccounting", true),
		prop("TasksAccounting", true),
	}
	if v2 {
		props = append(props, prop("IOAccounting", true))
	} else {
		props = append(props, prop("BlockIOAccounting", true))
	}
	props = append(props, ResourceProperties(r, v2)...)
	if !v2 && r != nil {
		// On v2 the container's own BPF device program (package cgroups)
		// is the only one: without DevicePolicy/DeviceAllow systemd
		// attaches none beside it.
		props = append(props, DeviceProperties(r.Devices)...)
	}
	return props
}

// ResourceProperties are the unit properties for the limits in r that
// systemd owns on this hierarchy; what it has no property for is left to
// the cgroup files. A nil field sets nothing, so an update passes only
// what it changes.
func ResourceProperties(r *specs.LinuxResources, v2 bool) []sddbus.Property {
	if r == nil {
		return nil
	}
	var props []sddbus.Property
	if m := r.Memory; m != nil {
		if m.Limit != nil && *m.Limit != 0 {
			name := "MemoryLimit"
			if v2 {
				name = "MemoryMax"
			}
			props = append(props, prop(name, limitValue(*m.Limit)))
		}
		if v2 && m.Reservation != nil && *m.Reservation > 0 {
			props = append(props, prop("MemoryLow", uint64(*m.Reservation)))
		}
		if v2 && m.Swap != nil && *m.Swap != 0 && m.Limit != nil && *m.Limit != 0 {
			// The OCI swap is memory+swap, systemd's is swap alone.
			swap := infinity
			if *m.Swap > 0 && *m.Limit > 0 {
				swap = uint64(max(*m.Swap-*m.Limit, 0))
			}
			props = append(props, prop("MemorySwapMax", swap))
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			if v2 {
				props = append(props, prop("CPUWeight", cgroups.SharesToWeight(*c.Shares)))
			} else {
				props = append(props, prop("CPUShares", *c.Shares))
			}
		}
		props = append(props, cpuQuotaProperties(c)...)
		if v2 {
			// cpuset is not a controller systemd drives on v1.
			if mask := cpuMask(c.Cpus); mask != nil {
				props = append(props, prop("AllowedCPUs", mask))
			}
			if mask := cpuMask(c.Mems); mask != nil {
				props = append(props, prop("AllowedMemoryNodes", mask))
			}
		}
	}
	if p := r.Pids; p != nil {
		tasks := infinity
		if p.Limit != nil && *p.Limit > 0 {
			tasks = uint64(*p.Limit)
		}
		props = append(props, prop("TasksMax", tasks))
	}
	if b := r.BlockIO; b != nil && b.Weight != nil && *b.Weight != 0 {
		if v2 {
			props = append(props, prop("IOWeight", cgroups.BlkioWeightToIO(*b.Weight)))
		} else {
			props = append(props, prop("BlockIOWeight", uint64(*b.Weight)))
		}
	}
	return props
}

func limitValue(v int64) uint64 {
	if v < 0 {
		return infinity
	}
	return uint64(v)
}

// cpuQuotaProperties say the CFS quota as systemd does: run time per
// second, which it keeps in whole 10 ms steps, rounded up so that the
// container gets at least what it asked for.
func cpuQuotaProperties(c *specs.LinuxCPU) []sddbus.Property {
	quotaSet := c.Quota != nil && *c.Quota != 0
	periodSet := c.Period != nil && *c.Period != 0
	if !quotaSet && !periodSet {
		return nil
	}
	period := uint64(100000)
	if periodSet {
		period = *c.Period
	}
	perSec := infinity
	if quotaSet && *c.Quota > 0 {
		perSec = uint64(*c.Quota) * 1000000 / period
		if perSec%10000 != 0 {
			perSec = (perSec/10000 + 1) * 10000
		}
	}
	return []sddbus.Property{prop("CPUQuotaPeriodUSec", period), prop("CPUQuotaPerSecUSec", perSec)}
}

// cpuMask is a cpuset list ("0-2,4") as the little-endian byte mask
// AllowedCPUs takes; nil for an empty or malformed list.
func cpuMask(list string) []byte {
	if list == "" {
		return nil
	}
	var bits big.Int
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil
			}
		}
		for i := a; i <= b; i++ {
			bits.SetBit(&bits, i, 1)
		}
	}
	be := bits.Bytes()
	le := make([]byte, len(be))
	for i, x := range be {
		le[len(be)-1-i] = x
	}
	return le
}
