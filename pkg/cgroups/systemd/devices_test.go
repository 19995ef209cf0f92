package systemd

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func num(n int64) *int64 { return &n }

func deviceProps(t *testing.T, rules []specs.LinuxDeviceCgroup) (string, []deviceAllow) {
	t.Helper()
	props := DeviceProperties(rules)
	if len(props) != 2 || props[0].Name != "DevicePolicy" || props[1].Name != "DeviceAllow" {
		t.Fatalf("properties %v", props)
	}
	return props[0].Value.Value().(string), props[1].Value.Value().([]deviceAllow)
}

func TestDevicePropertiesOfDockerDefaults(t *testing.T) {
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: num(-1), Minor: num(-1), Access: "m"},
		{Allow: true, Type: "b", Major: num(-1), Minor: num(-1), Access: "m"},
		{Allow: true, Type: "c", Major: num(1), Minor: num(3), Access: "rwm"},
		{Allow: true, Type: "c", Major: num(136), Minor: num(-1), Access: "rwm"},
		{Allow: true, Type: "c", Major: num(10), Minor: num(200), Access: "rwm"},
		// A later deny takes back an earlier allow.
		{Allow: false, Type: "c", Major: num(10), Minor: num(200), Access: "rwm"},
		// Not sayable: left to the cgroup files.
		{Allow: true, Type: "c", Major: nil, Minor: num(7), Access: "r"},
	}
	policy, allow := deviceProps(t, rules)
	want := []deviceAllow{{"char-*", "m"}, {"block-*", "m"}, {"/dev/char/1:3", "rwm"}}
	if g := deviceGroup("char", 136); g != "" {
		want = append(want, deviceAllow{"char-" + g, "rwm"})
	}
	if policy != "strict" || !reflect.DeepEqual(allow, want) {
		t.Fatalf("%s %v, want strict %v", policy, allow, want)
	}
}

func TestDevicePropertiesAllowAll(t *testing.T) {
	// --privileged: everything, which systemd says with its auto policy
	// and no list.
	policy, allow := deviceProps(t, []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Access: "rwm"}})
	if policy != "auto" || len(allow) != 0 {
		t.Fatalf("%s %v", policy, allow)
	}
	// A deny list cannot be said: systemd allows all, the files deny.
	policy, _ = deviceProps(t, []specs.LinuxDeviceCgroup{{Allow: false, Type: "c", Major: num(1), Minor: num(3), Access: "rwm"}})
	if policy != "auto" {
		t.Fatalf("deny list: %s", policy)
	}
}
