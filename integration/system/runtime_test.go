package system

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestAddRuntime runs a container under an external OCI runtime (Debian's
// runc) registered in daemon.json, and refuses an unknown runtime name.
func TestAddRuntime(t *testing.T) {
	runc, err := exec.LookPath("runc")
	harness.Require(t, err == nil, "runc (Debian package runc)")
	dd := harness.Fresh(t, harness.Options{Config: `{"runtimes":{"runc":{"path":"` + runc + `"}}}`})
	dd.LoadTestImages(t)
	out := dd.DockerT(t, "run", "--pull=never", "--rm", "--network", "none", "--runtime", "runc", "busybox", "sh", "-c", "echo via runc")
	if strings.TrimSpace(out) != "via runc" {
		t.Fatalf("output %q", out)
	}
	if info := dd.DockerT(t, "info", "--format", "{{json .Runtimes}}"); !strings.Contains(info, `"runc"`) {
		t.Fatalf("runtimes in info: %s", info)
	}
	_, stderr, err := dd.Docker("run", "--pull=never", "--rm", "--network", "none", "--runtime", "nope", "busybox", "true")
	if err == nil || !strings.Contains(stderr, "unknown or invalid runtime name: nope") {
		t.Fatalf("unknown runtime: %v %s", err, stderr)
	}
	if ps := dd.DockerT(t, "ps", "-aq"); strings.TrimSpace(ps) != "" {
		t.Fatalf("containers left: %s", ps)
	}
}
