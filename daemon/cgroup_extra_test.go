package daemon

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/runtime"
)

// An update's hugepage limit replaces the one of its size, a unified key
// its value; the rest stays, and the current settings are not changed in
// place (they are the saved container's until the update succeeds).
func TestMergeExtraResources(t *testing.T) {
	cur := &cgroups.ExtraResources{
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}, {Pagesize: "1GB", Limit: 2}},
		Unified:        map[string]string{"memory.high": "10", "pids.max": "5"},
	}
	next := mergeExtraResources(cur, &cgroups.ExtraResources{
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 3}, {Pagesize: "64KB", Limit: 4}},
		Unified:        map[string]string{"memory.high": "20"},
	})
	wantH := []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}, {Pagesize: "1GB", Limit: 3}, {Pagesize: "64KB", Limit: 4}}
	if !reflect.DeepEqual(next.HugepageLimits, wantH) || !reflect.DeepEqual(next.Unified, map[string]string{"memory.high": "20", "pids.max": "5"}) {
		t.Fatalf("merged %+v", next)
	}
	if cur.HugepageLimits[1].Limit != 2 || cur.Unified["memory.high"] != "10" {
		t.Fatalf("current settings changed in place: %+v", cur)
	}
	if got := mergeExtraResources(cur, nil); got != cur {
		t.Fatal("an update without extras changed them")
	}
	if got := mergeExtraResources(nil, &cgroups.ExtraResources{Unified: map[string]string{"a.b": "1"}}); got.Unified["a.b"] != "1" {
		t.Fatalf("onto none: %+v", got)
	}
}

// The spec gets the unified keys, and the hugepage limits where the host
// has a hugetlb controller to keep them.
func TestSetExtraResources(t *testing.T) {
	s := runtime.DefaultSpec()
	e := &cgroups.ExtraResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8}}, Unified: map[string]string{"memory.high": "7"}}
	setExtraResources(s, e)
	r := s.Linux.Resources
	if r.Unified["memory.high"] != "7" {
		t.Fatalf("unified %v", r.Unified)
	}
	if cgroups.HugetlbAvailable() != (len(r.HugepageLimits) == 1) {
		t.Fatalf("hugepage limits %v with hugetlb available %v", r.HugepageLimits, cgroups.HugetlbAvailable())
	}
	r.Unified["memory.high"] = "changed"
	if e.Unified["memory.high"] != "7" {
		t.Fatal("the spec shares the container's map")
	}
}

// A pod's handler: "" and "berth" always, a runtime of daemon.json's
// "runtimes" when configured; anything else is refused with containerd's
// message. The sandbox runs on the handler's runtime.
func TestPodRuntimeHandlers(t *testing.T) {
	d := newFakeDaemon(t, func(c *config.Config) {
		c.Runtimes = map[string]config.Runtime{"runc": {Path: "/usr/sbin/runc"}}
	})
	var names []string
	for _, h := range d.PodRuntimeHandlers() {
		names = append(names, h.Name)
		if h.Builtin != (h.Name != "runc") {
			t.Errorf("handler %q builtin %v", h.Name, h.Builtin)
		}
	}
	if !reflect.DeepEqual(names, []string{"", "berth", "runc"}) {
		t.Fatalf("handlers %q", names)
	}
	for _, ok := range []string{"", "berth", "runc"} {
		if err := d.checkRuntimeHandler(ok); err != nil {
			t.Errorf("handler %q: %v", ok, err)
		}
	}
	err := d.checkRuntimeHandler("kata")
	if !errdefs.Is(err, errdefs.InvalidParameter) || err.Error() != `no runtime for "kata" is configured` {
		t.Fatalf("unknown handler: %v", err)
	}
	before, _ := d.Containers(context.Background(), backend.ContainerListOptions{All: true})
	c := basePod()
	c.RuntimeHandler = "kata"
	c.Namespaces.Network = backend.NamespaceNode
	if _, err := d.RunPodSandbox(context.Background(), c); err == nil || !strings.Contains(err.Error(), `no runtime for "kata" is configured`) {
		t.Fatalf("RunPodSandbox with an unknown handler: %v", err)
	}
	after, _ := d.Containers(context.Background(), backend.ContainerListOptions{All: true})
	if len(after) != len(before) || len(d.PodSandboxes(context.Background(), backend.PodSandboxFilter{})) != 0 {
		t.Fatalf("an unknown handler left %d containers (had %d)", len(after), len(before))
	}
	c.RuntimeHandler = "runc"
	cc, err := podSandboxCreateConfig(c, "pause:1")
	if err != nil || cc.HostConfig.Runtime != "runc" {
		t.Fatalf("sandbox runtime %q %v", cc.HostConfig.Runtime, err)
	}
}

// Unified keys a v1 host cannot take are refused at create, with runc's
// error, before anything is made.
func TestCreateRefusesUnifiedOnV1(t *testing.T) {
	if cgroups.IsV2() {
		t.Skip("a v2 host takes unified keys")
	}
	err := checkExtraResources(&cgroups.ExtraResources{Unified: map[string]string{"memory.high": "1"}})
	if !errdefs.Is(err, errdefs.InvalidParameter) || !errors.Is(err, cgroups.ErrV1NoUnified) {
		t.Fatalf("unified on v1: %v", err)
	}
}
