package cri

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
)

// Hugepage limits and unified keys reach the engine's create beside
// HostConfig; a container without them has none.
func TestCreateConfigExtraResources(t *testing.T) {
	pod := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u"}}
	cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: "busybox"},
		Linux: &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
			MemoryLimitInBytes: 1 << 20,
			HugepageLimits:     []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}, {PageSize: "1GB"}},
			Unified:            map[string]string{"memory.high": "1000000"},
		}}}
	p, err := createConfig("sb", cfg, pod)
	if err != nil {
		t.Fatal(err)
	}
	want := []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}, {Pagesize: "1GB"}}
	if e := p.ExtraResources; e == nil || !reflect.DeepEqual(e.HugepageLimits, want) || e.Unified["memory.high"] != "1000000" {
		t.Fatalf("extra resources %+v", e)
	}
	if p.HostConfig.Memory != 1<<20 {
		t.Fatalf("memory %d", p.HostConfig.Memory)
	}
	cfg.Linux.Resources.HugepageLimits, cfg.Linux.Resources.Unified = nil, nil
	if p, _ := createConfig("sb", cfg, pod); p.ExtraResources != nil {
		t.Fatalf("extra resources without any: %+v", p.ExtraResources)
	}
}

// A pod's hugepage limits are its resources' and its overhead's, added
// by page size; the unified keys are its resources'.
func TestPodExtraResources(t *testing.T) {
	res := &runtimeapi.LinuxContainerResources{HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}}, Unified: map[string]string{"memory.high": "5"}}
	overhead := &runtimeapi.LinuxContainerResources{HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 2 << 20}, {PageSize: "1GB", Limit: 1 << 30}}}
	r := podResources(overhead, res)
	want := []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 6 << 20}, {Pagesize: "1GB", Limit: 1 << 30}}
	if r == nil || r.Extra == nil || !reflect.DeepEqual(r.Extra.HugepageLimits, want) || r.Extra.Unified["memory.high"] != "5" {
		t.Fatalf("pod resources %+v", r)
	}
	if res.HugepageLimits[0].Limit != 4<<20 {
		t.Fatal("the request's limits were changed")
	}
	if r := podResources(nil, &runtimeapi.LinuxContainerResources{Unified: map[string]string{"pids.max": "9"}}); r == nil || r.Extra.Unified["pids.max"] != "9" {
		t.Fatalf("unified only: %+v", r)
	}
	if r := podResources(nil, &runtimeapi.LinuxContainerResources{}); r != nil {
		t.Fatalf("nothing given: %+v", r)
	}
}

// Status lists every handler, the features known only for berth's own.
func TestRuntimeHandlersFeatures(t *testing.T) {
	hs := runtimeHandlers([]backend.PodRuntimeHandler{{Name: "", Builtin: true}, {Name: "berth", Builtin: true}, {Name: "runc"}})
	if len(hs) != 3 || hs[0].GetName() != "" || hs[2].GetName() != "runc" {
		t.Fatalf("handlers %v", hs)
	}
	if !hs[0].GetFeatures().GetRecursiveReadOnlyMounts() || hs[2].GetFeatures().GetRecursiveReadOnlyMounts() {
		t.Fatalf("features %v", hs)
	}
}
