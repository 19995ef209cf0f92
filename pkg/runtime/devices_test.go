package runtime

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDedupeAllowsKeepsOrderAndDenies(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	null := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "rwm"}
	zero := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: n(1), Minor: n(5), Access: "rwm"}
	nullR := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "r"}
	denyAll := specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	denyNull := specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: n(1), Minor: n(3), Access: "rwm"}
	got := dedupeAllows([]specs.LinuxDeviceCgroup{denyAll, null, zero, null, nullR, zero, denyNull, null})
	want := []specs.LinuxDeviceCgroup{denyAll, null, zero, nullR, denyNull, null}
	if len(got) != len(want) {
		t.Fatalf("got %d rules, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Allow != want[i].Allow || got[i].Access != want[i].Access || (got[i].Minor == nil) != (want[i].Minor == nil) ||
			(got[i].Minor != nil && *got[i].Minor != *want[i].Minor) {
			t.Errorf("rule %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
