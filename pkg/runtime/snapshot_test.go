package runtime

import (
	"reflect"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/seccomp"
	"github.com/berthd/berth/pkg/wire"
)

// Every field of a Snapshot survives its binary encoding: a field added
// to the struct and not to AppendBinary fails here.
func TestSnapshotBinaryRoundTrip(t *testing.T) {
	in := &Snapshot{
		ID: "c1", Bundle: "/b", Rootfs: "/b/rootfs", Pid: 42, StartTime: 12345,
		Created: time.Unix(1700000000, 123).UTC(), CgroupPath: "/berth/c1",
		Annotations: map[string]string{"a": "1", "b": "2"},
		Spec:        []byte(`{"ociVersion":"1.0.2"}`),
		Seccomp:     &seccomp.Program{BPF: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Flags: 3},
	}
	v := reflect.ValueOf(*in)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Fatalf("test snapshot leaves %s zero", v.Type().Field(i).Name)
		}
	}
	data, err := in.AppendBinary([]byte("prefix"))
	if err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(data[len("prefix"):])
	out, err := ReadSnapshot(r)
	if err != nil || r.Err(true) != nil {
		t.Fatalf("%v %v", err, r.Err(true))
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n%+v\n%+v", in, out)
	}
	if _, err := ReadSnapshot(wire.NewReader(data[len("prefix") : len(data)-3])); err == nil {
		t.Fatal("a truncated snapshot read without error")
	}
}
