package cgroupv2

import (
	"os"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

var d *harness.Daemon

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, harness.Options{CgroupV2: true}, &d))
}

func TestContainersOnCgroupV2(t *testing.T) {
	d.LoadTestImages(t)
	if got := strings.TrimSpace(d.DockerT(t, "info", "--format", "{{.CgroupVersion}} {{.CgroupDriver}}")); got != "2 cgroupfs" {
		t.Fatalf("docker info: %q, want 2 cgroupfs", got)
	}
	// dockerd's default on v2 is a private cgroup namespace: the
	// container sees its cgroup as the root.
	out := d.DockerT(t, "run", "--rm", "--pull=never", "busybox", "sh", "-c",
		"cat /proc/self/cgroup; mknod /tmp/k c 1 11 && (echo x > /tmp/k) 2>&1; head -c0 /dev/null && echo null-ok")
	if !strings.Contains(out, "0::/\n") || !strings.Contains(out, "Operation not permitted") || !strings.Contains(out, "null-ok") {
		t.Fatalf("container on v2:\n%s", out)
	}
	id := strings.TrimSpace(d.DockerT(t, "run", "-d", "--pull=never", "busybox", "sleep", "60"))
	t.Cleanup(func() { d.Docker("rm", "-f", id) })
	if got := d.DockerT(t, "inspect", "-f", "{{.HostConfig.CgroupnsMode}}", id); strings.TrimSpace(got) != "private" {
		t.Errorf("CgroupnsMode %q, want private", got)
	}
	if out := d.DockerT(t, "exec", id, "cat", "/proc/self/cgroup"); !strings.Contains(out, "0::/\n") {
		t.Errorf("exec cgroup:\n%s", out)
	}
	if out := d.DockerT(t, "top", id); !strings.Contains(out, "sleep 60") {
		t.Errorf("top:\n%s", out)
	}
	d.DockerT(t, "pause", id)
	if got := strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.State.Status}}", id)); got != "paused" {
		t.Errorf("after pause: %s", got)
	}
	d.DockerT(t, "unpause", id)
	if out := d.DockerT(t, "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}}", id); !strings.Contains(out, "%") {
		t.Errorf("stats: %q", out)
	}
	d.DockerT(t, "rm", "-f", id)
}
