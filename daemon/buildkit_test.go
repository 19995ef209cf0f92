package daemon

import (
	"testing"

	"github.com/berthd/berth/daemon/config"
)

func TestBuildKitSettingsFromDaemonJSON(t *testing.T) {
	no := false
	ents := buildEntitlements(config.BuilderEntitlements{})
	if len(ents) != 1 || ents[0] != "network.host" {
		t.Errorf("default entitlements %v, want dockerd's network.host only", ents)
	}
	if ents := buildEntitlements(config.BuilderEntitlements{NetworkHost: &no}); len(ents) != 0 {
		t.Errorf("network-host=false still grants %v", ents)
	}

	gc, err := buildGC(config.BuilderGC{DefaultKeepStorage: "1GB", Policy: []config.BuilderGCRule{
		{Filter: config.BuilderGCFilter{"unused-for=24h"}, KeepStorage: "2GB"},
	}})
	if err != nil || gc.Disabled || gc.ReservedSpace != 1<<30 || len(gc.Rules) != 1 {
		t.Fatalf("gc = %+v, %v", gc, err)
	}
	if r := gc.Rules[0]; r.ReservedSpace != 2<<30 || !r.Filters.ExactMatch("unused-for", "24h") {
		t.Errorf("rule = %+v", r)
	}
	if gc, _ := buildGC(config.BuilderGC{Enabled: &no}); !gc.Disabled {
		t.Error("gc.enabled=false left GC on")
	}

	regs := buildRegistries(&config.Config{
		RegistryMirrors:    []string{"https://mirror.example:5000/"},
		InsecureRegistries: []string{"127.0.0.1:5000", "10.0.0.0/8"},
	})
	if m := regs["docker.io"].Mirrors; len(m) != 1 || m[0] != "mirror.example:5000" {
		t.Errorf("docker.io mirrors %v", m)
	}
	if r, ok := regs["127.0.0.1:5000"]; !ok || r.PlainHTTP == nil || !*r.PlainHTTP {
		t.Errorf("insecure registry %+v", r)
	}
	if _, ok := regs["10.0.0.0/8"]; ok {
		t.Error("a CIDR became a registry host")
	}
}
