package system

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/moby/moby/api/types/system"

	"github.com/berthd/berth/api/server/httputils"
)

func TestInfoForVersion(t *testing.T) {
	in := &system.Info{
		ID:             "x",
		RuncCommit:     system.Commit{ID: "r1"},
		NRI:            &system.NRIInfo{},
		Containerd:     &system.ContainerdInfo{Address: "/c.sock"},
		Runtimes:       map[string]system.RuntimeWithStatus{"runc": {Runtime: system.Runtime{Path: "runc"}, Status: map[string]string{"a": "b"}}},
		RegistryConfig: nil,
	}
	enc := func(v string) map[string]any {
		out, err := infoForVersion(httputils.WithVersion(context.Background(), v), in)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(out)
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}
	m := enc("1.56")
	if _, ok := m["NRI"]; !ok {
		t.Errorf("1.56 lost NRI")
	}
	if _, ok := m["BridgeNfIptables"]; ok {
		t.Errorf("1.56 has BridgeNfIptables")
	}
	m = enc("1.50")
	if _, ok := m["NRI"]; ok {
		t.Errorf("1.50 has NRI")
	}
	if _, ok := m["BridgeNfIptables"]; ok {
		t.Errorf("1.50 has BridgeNfIptables")
	}
	m = enc("1.49")
	if m["BridgeNfIptables"] != false || m["BridgeNfIp6tables"] != false {
		t.Errorf("1.49 bridge-nf fields: %v %v", m["BridgeNfIptables"], m["BridgeNfIp6tables"])
	}
	m = enc("1.48")
	if rc, _ := m["RuncCommit"].(map[string]any); rc["Expected"] != "r1" || rc["ID"] != "r1" {
		t.Errorf("1.48 RuncCommit %v", m["RuncCommit"])
	}
	m = enc("1.43")
	if _, ok := m["Containerd"]; ok {
		t.Errorf("1.43 has Containerd")
	}
	if rt, _ := m["Runtimes"].(map[string]any)["runc"].(map[string]any); rt["status"] != nil || rt["path"] != "runc" {
		t.Errorf("1.43 runtime %v", rt)
	}
}
