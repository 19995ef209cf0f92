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

// Limits whose controller the daemon's cgroup lacks (the unified
// hierarchy of this v1 host has none) are dropped with dockerd's
// warnings, and the container runs; --cpus is refused as by dockerd.
func TestUnsupportedLimitsDiscarded(t *testing.T) {
	d.LoadTestImages(t)
	name := "v2-limits"
	out, stderr, err := d.Docker("run", "--name", name, "--pull=never", "--memory", "64m", "--pids-limit", "10", "--cpu-shares", "512", "busybox", "echo", "ran")
	t.Cleanup(func() { d.Docker("rm", "-f", name) })
	if err != nil || strings.TrimSpace(out) != "ran" {
		t.Fatalf("run: %v %q %q", err, out, stderr)
	}
	for _, w := range []string{
		"WARNING: Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.",
		"WARNING: Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.",
		"WARNING: Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("missing %q in:\n%s", w, stderr)
		}
	}
	if got := strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.CPUShares}}", name)); got != "0 -1 <nil> 0" {
		t.Errorf("host config after discarding: %q", got)
	}
	_, stderr, err = d.Docker("run", "--rm", "--pull=never", "--cpus", "0.5", "busybox", "true")
	if err == nil || !strings.Contains(stderr, "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted") {
		t.Errorf("--cpus without the cpu controller: %v %q", err, stderr)
	}
}

// docker update drops what it cannot enforce with the same warnings.
func TestUpdateDiscardsUnsupported(t *testing.T) {
	d.LoadTestImages(t)
	id := strings.TrimSpace(d.DockerT(t, "run", "-d", "--pull=never", "busybox", "sleep", "60"))
	t.Cleanup(func() { d.Docker("rm", "-f", id) })
	stdout, stderr, err := d.Docker("update", "--memory", "64m", "--memory-swap", "-1", id)
	if err != nil {
		t.Fatalf("update: %v %q", err, stderr)
	}
	// The CLI prints an update's warnings among its output.
	if !strings.Contains(stdout+stderr, "Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.") {
		t.Errorf("update output: %q %q", stdout, stderr)
	}
	if got := strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.HostConfig.Memory}}", id)); got != "0" {
		t.Errorf("Memory after update: %s", got)
	}
}
