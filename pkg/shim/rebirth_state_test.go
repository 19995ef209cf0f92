package shim

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/seccomp"
)

// nonZero fails the test for a zero field of v (a struct) other than
// those named in skip, so that a field added to a state and not to its
// encoding fails the round trip.
func nonZero(t *testing.T, v any, skip ...string) {
	t.Helper()
	rv := reflect.ValueOf(v)
	for i := 0; i < rv.NumField(); i++ {
		if rv.Field(i).IsZero() && !slices.Contains(skip, rv.Type().Field(i).Name) {
			t.Fatalf("%T: test value leaves %s zero", v, rv.Type().Field(i).Name)
		}
	}
}

func TestRebirthStateRoundTrip(t *testing.T) {
	cfg := Config{ID: "c", Bundle: "/b", RuntimeRoot: "/r", LogPath: "/l", LogMaxSize: 10, LogMaxFile: 3, OpenStdin: true, Runtime: "/usr/sbin/runc", NoPivot: true, ImageLife: time.Second}
	builtin := &runtime.Snapshot{ID: "c", Bundle: "/b", Rootfs: "/b/rootfs", Pid: 9, StartTime: 1, Created: time.Unix(5, 0).UTC(),
		CgroupPath: "/berth/c", Annotations: map[string]string{"k": "v"}, Spec: []byte("{}"),
		Seccomp: &seccomp.Program{BPF: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Flags: 1}}
	ext := &externalState{Bin: "/usr/sbin/runc", Root: "/r", ID: "c", Dir: "/d", CgroupPath: "/berth/c", Pid: 9}
	nonZero(t, *ext)
	for _, sn := range []containerSnapshot{{Builtin: builtin}, {External: ext}} {
		in := &rebirthState{
			Dir: "/d", Config: cfg, Container: sn, Listener: 5, Stdin: 6, Console: 7,
			Outputs: []outputState{{Fd: 8, Stream: Stdout, Name: "stdout", Pending: []byte("half")}, {Fd: 9, Stream: Stderr, Name: "stderr"}},
			Waits:   []int{10}, Events: []int{11, 12}, Attaches: []int{13}, OOMSent: true, Orphans: true,
			Keep: keptRanges{fixed: true, firstLoad: 0x400000, ranges: [][2]uint64{{0x1000, 0x2000}, {0x3000, 0x4000}}},
			V1:   []cgroups.Hierarchy{{MountPoint: "/sys/fs/cgroup/memory", Options: []string{"rw", "memory"}}},
		}
		in2 := *in
		in2.Container = containerSnapshot{Builtin: builtin}
		nonZero(t, in2)
		// A config's spec and seccomp program serve only the creation.
		nonZero(t, in.Config, "Spec", "Seccomp", "CgroupV1")
		nonZero(t, in.Outputs[0])
		data, err := in.marshal()
		if err != nil {
			t.Fatal(err)
		}
		out, err := unmarshalRebirthState(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip:\n%+v\n%+v", in, out)
		}
		if _, err := unmarshalRebirthState(data[:len(data)-1]); err == nil {
			t.Fatal("a truncated state read without error")
		}
	}
}
