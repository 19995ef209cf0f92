package systemd

import (
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// The driver on the unified hierarchy (most hosts): here a v1 host's,
// mounted on /sys/fs/cgroup in the private systemd's namespaces, which the
// daemon joins. It carries no controllers on this host, so the limits are
// dropped (TestUnsupportedLimitsDiscarded in integration/cgroupv2); the
// scopes, their paths, exec, a slice parent, restart and removal are the
// v2 code paths.
func TestSystemdDriverOnCgroupV2(t *testing.T) {
	e := startOn(t, true, systemdConfig)
	d := e.d
	if got := strings.TrimSpace(d.DockerT(t, "info", "--format", "{{.CgroupVersion}} {{.CgroupDriver}}")); got != "2 systemd" {
		t.Fatalf("docker info: %q, want 2 systemd", got)
	}
	for _, parent := range []string{"", "berthtest-v2.slice"} {
		args := []string{"run", "-d", "--pull=never"}
		slice, dir := "system.slice", "/system.slice"
		if parent != "" {
			args = append(args, "--cgroup-parent", parent)
			slice, dir = parent, "/berthtest.slice/berthtest-v2.slice"
		}
		id := strings.TrimSpace(d.DockerT(t, append(args, harness.BusyboxImage, "sleep", "600")...))
		t.Cleanup(func() { d.Docker("rm", "-f", id) })
		unit := "docker-" + id + ".scope"
		if got, want := e.containerCgroup(t, id, ""), e.sd.Cgroup+dir+"/"+unit; got != want {
			t.Fatalf("cgroup %q, want %q", got, want)
		}
		for prop, want := range map[string]string{"ActiveState": "active", "Delegate": "yes", "Slice": slice} {
			if got := e.unitProperty(t, unit, prop); got != want {
				t.Errorf("%s %s = %q, want %q", unit, prop, got, want)
			}
		}
		// An exec joins the scope's cgroup (private cgroupns: its root).
		if out := d.DockerT(t, "exec", id, "cat", "/proc/self/cgroup"); !strings.Contains(out, "0::/\n") {
			t.Errorf("exec cgroup %q", out)
		}
		if err := d.Restart(true); err != nil {
			t.Fatal(err)
		}
		if got := e.unitProperty(t, unit, "ActiveState"); got != "active" {
			t.Errorf("after a daemon restart: scope %s", got)
		}
		d.DockerT(t, "rm", "-f", id)
		if got := e.unitProperty(t, unit, "LoadState"); got != "not-found" {
			t.Errorf("after rm: LoadState %q", got)
		}
	}
}
