package container

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/api/server/httputils"
)

func TestInspectLegacyNetworkFieldsByVersion(t *testing.T) {
	resp := &container.InspectResponse{ID: "abc", NetworkSettings: &container.NetworkSettings{
		SandboxKey: "/proc/1/ns/net",
		Networks: map[string]*network.EndpointSettings{"bridge": {
			EndpointID: "ep", IPAddress: netip.MustParseAddr("172.17.0.2"), IPPrefixLen: 16,
			Gateway: netip.MustParseAddr("172.17.0.1"), MacAddress: network.HardwareAddr{2, 0x42, 0xac, 0x11, 0, 2},
		}},
	}}
	enc := func(v string) map[string]any {
		b, err := json.Marshal(inspectForVersion(httputils.WithVersion(context.Background(), v), resp))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		return m["NetworkSettings"].(map[string]any)
	}
	old := enc("1.50")
	if old["IPAddress"] != "172.17.0.2" || old["Gateway"] != "172.17.0.1" || old["EndpointID"] != "ep" ||
		old["MacAddress"] != "02:42:ac:11:00:02" || old["IPPrefixLen"] != float64(16) || old["SandboxKey"] != "/proc/1/ns/net" {
		t.Fatalf("API 1.50 NetworkSettings: %v", old)
	}
	if _, ok := old["Networks"].(map[string]any)["bridge"]; !ok {
		t.Fatalf("API 1.50 lost Networks: %v", old)
	}
	for k := range enc("1.52") {
		if strings.Contains("IPAddress Gateway EndpointID MacAddress HairpinMode Bridge", k) {
			t.Fatalf("API 1.52 still sends %s", k)
		}
	}
}
