package container

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/api/server/httputils"
)

func TestMigrateLegacyMAC(t *testing.T) {
	mac := network.HardwareAddr{2, 0x42, 0xac, 0x11, 0, 0x42}
	raw := []byte(`{"Image":"busybox","MacAddress":"02:42:ac:11:00:42"}`)
	if got := legacyMAC(raw); got.String() != mac.String() {
		t.Fatalf("legacyMAC: %s", got)
	}
	ctx := func(v string) context.Context { return httputils.WithVersion(context.Background(), v) }

	// 1.43, default network: the MAC goes to the bridge's endpoint.
	body := &container.CreateRequest{Config: &container.Config{}, HostConfig: &container.HostConfig{}}
	if w, err := migrateLegacyMAC(ctx("1.43"), body, mac); err != nil || w != "" {
		t.Fatalf("1.43: %q %v", w, err)
	}
	if got := body.NetworkingConfig.EndpointsConfig["bridge"].MacAddress.String(); got != mac.String() {
		t.Fatalf("1.43 endpoint MAC %s", got)
	}
	// 1.44-1.51: migrated with a warning; a different endpoint MAC is refused.
	body = &container.CreateRequest{Config: &container.Config{}, HostConfig: &container.HostConfig{NetworkMode: "n1"},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"n1": {}}}}
	if w, err := migrateLegacyMAC(ctx("1.51"), body, mac); err != nil || !strings.Contains(w, "deprecated") {
		t.Fatalf("1.51: %q %v", w, err)
	}
	body.NetworkingConfig.EndpointsConfig["n1"].MacAddress = network.HardwareAddr{2, 0, 0, 0, 0, 1}
	if _, err := migrateLegacyMAC(ctx("1.51"), body, mac); err == nil {
		t.Fatal("1.51: mismatching MACs accepted")
	}
	if _, err := migrateLegacyMAC(ctx("1.43"), &container.CreateRequest{HostConfig: &container.HostConfig{NetworkMode: "host"}}, mac); err == nil {
		t.Fatal("1.43: a MAC with host networking accepted")
	}
}

type fakeMACBackend struct{ mac network.HardwareAddr }

func (f fakeMACBackend) ContainerConfiguredMAC(string) (network.HardwareAddr, error) {
	return f.mac, nil
}

// Before 1.52 inspect shows the configured MAC as Config.MacAddress, and
// nothing for a generated one; from 1.52 never.
func TestInspectConfiguredMAC(t *testing.T) {
	resp := &container.InspectResponse{ID: "abc", Config: &container.Config{Image: "busybox"}}
	get := func(v string, b any) map[string]any {
		ctx := httputils.WithVersion(context.Background(), v)
		raw, err := json.Marshal(withConfiguredMAC(ctx, b, "abc", resp, inspectForVersion(ctx, resp)))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(raw, &m)
		return m["Config"].(map[string]any)
	}
	b := fakeMACBackend{mac: network.HardwareAddr{2, 0x42, 0xac, 0x11, 0, 0x42}}
	if got := get("1.51", b); got["MacAddress"] != "02:42:ac:11:00:42" || got["Image"] != "busybox" {
		t.Fatalf("1.51: %v", got)
	}
	if got := get("1.52", b); got["MacAddress"] != nil {
		t.Fatalf("1.52: %v", got)
	}
	if got := get("1.51", fakeMACBackend{}); got["MacAddress"] != nil {
		t.Fatalf("generated MAC shown: %v", got)
	}
}
