package container

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// reference is what httputils.WriteJSON writes for v.
func reference(t *testing.T, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEncodeSummariesMatchesEncodingJSON(t *testing.T) {
	hostile := "a\"b\\c\n\r\t\b\f\x01\x1f<>&\u2028\u2029é日本\xff\xfe end"
	mac, _ := net.ParseMAC("02:42:ac:11:00:02")
	full := &container.Summary{
		ID:                      "abc",
		Names:                   []string{"/web", "/" + hostile},
		Image:                   "busybox:latest",
		ImageID:                 "sha256:0123",
		ImageManifestDescriptor: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Size: 42, Annotations: map[string]string{"x": "<y>"}},
		Command:                 "sh -c 'echo <&>'",
		Created:                 1700000000,
		Ports: []container.PortSummary{
			{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
			{PrivatePort: 53, Type: "udp"},
		},
		SizeRw:     12,
		SizeRootFs: 3400,
		Labels:     map[string]string{"z": "last", "a": hostile, hostile: "key", "": "empty"},
		State:      container.StateRunning,
		Status:     "Up 5 minutes (healthy)",
		Health:     &container.HealthSummary{Status: container.Healthy, FailingStreak: 0},
		NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{
			"bridge": {NetworkID: "n1", EndpointID: "e1", Gateway: netip.MustParseAddr("172.17.0.1"), IPAddress: netip.MustParseAddr("172.17.0.2"),
				IPPrefixLen: 16, MacAddress: network.HardwareAddr(mac), Aliases: []string{"web"}, DNSNames: []string{"web", "abc"},
				DriverOpts: map[string]string{"k": "v"}, IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("172.17.0.2")}},
			"none":  nil,
			"other": {},
		}},
		Mounts: []container.MountPoint{{Type: mount.TypeVolume, Name: "v", Source: "/var/lib/x", Destination: "/data", Driver: "local", Mode: "z", RW: true, Propagation: mount.PropagationRPrivate}},
	}
	full.HostConfig.NetworkMode = "bridge"
	full.HostConfig.Annotations = map[string]string{"b": "2", "a": "1"}
	created := &container.Summary{ID: "def", Names: []string{"/new"}, Image: "busybox", ImageID: "sha256:1", Command: "true", Created: 1,
		Ports: []container.PortSummary{}, Labels: map[string]string{}, State: container.StateCreated, Status: "Created",
		NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{"bridge": {}}}, Mounts: []container.MountPoint{}}
	bare := &container.Summary{}
	emptyNets := &container.Summary{ID: "x", NetworkSettings: &container.NetworkSettingsSummary{}, Names: []string{}, HostConfig: struct {
		NetworkMode string            `json:",omitempty"`
		Annotations map[string]string `json:",omitempty"`
	}{Annotations: map[string]string{}}}
	for name, list := range map[string][]*container.Summary{
		"nil":       nil,
		"empty":     {},
		"full":      {full},
		"mixed":     {created, full, bare, nil, emptyNets},
		"bare only": {bare},
	} {
		got, err := encodeSummaries(list)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := reference(t, list); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	// A listing as the daemon makes it, when one was saved by hand:
	// BERTH_LIST_JSON=path (a GET /containers/json?all=1 answer).
	if p := os.Getenv("BERTH_LIST_JSON"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var list []*container.Summary
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		got, _ := encodeSummaries(list)
		if !bytes.Equal(got, reference(t, list)) {
			t.Error("the saved listing encodes differently")
		}
	}
}

func BenchmarkEncodeSummaries(b *testing.B) {
	list := make([]*container.Summary, 1000)
	for i := range list {
		s := &container.Summary{ID: "566b7ba99679c8729aedeb01756afb336da260df5823a5a702d68df2b4461e66", Names: []string{"/lucid_colden"},
			Image: "busybox", ImageID: "sha256:c51fa1b2709732f525b2f5dd3f5faf2744e3e8fecdceeba435506c1bf24eb95f", Command: "true", Created: 1795622559,
			Ports: []container.PortSummary{}, Labels: map[string]string{"org.example.fixture": "busybox"}, State: container.StateCreated, Status: "Created",
			NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{"bridge": {NetworkID: "40adaadc966c6e58afe99bce1dd206e19a17ebae61fe2bba0826e82d2f0a54a7"}}},
			Mounts:          []container.MountPoint{}}
		s.HostConfig.NetworkMode = "bridge"
		list[i] = s
	}
	b.Run("encoding/json", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.Encode(list)
		}
	})
	b.Run("encodeSummaries", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			encodeSummaries(list)
		}
	})
}
