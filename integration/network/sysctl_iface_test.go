package network

import (
	"strings"
	"testing"
)

// TestInterfaceSysctlAtRun: a --sysctl for the container's own interface
// is set though the interface is made while the container starts.
func TestInterfaceSysctlAtRun(t *testing.T) {
	d.LoadTestImages(t)
	out := d.DockerT(t, "run", "--rm", "--sysctl", "net.ipv4.conf.eth0.forwarding=1", "--sysctl", "net.ipv4.conf.all.forwarding=1",
		"busybox", "cat", "/proc/sys/net/ipv4/conf/eth0/forwarding")
	if strings.TrimSpace(out) != "1" {
		t.Fatalf("eth0 forwarding = %q, want 1", out)
	}
	if _, stderr, err := d.Docker("run", "--rm", "--sysctl", "net.ipv4.conf.eth9.forwarding=1", "busybox", "true"); err == nil || !strings.Contains(stderr, "eth9") {
		t.Fatalf("a sysctl for a missing interface: %v %s", err, stderr)
	}
}
