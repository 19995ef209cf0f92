package system

import (
	"errors"
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
	// An exec runc cannot start is classified by the errno the shim
	// reads from runc's words: the shell's exit codes, as under berth's
	// own runtime. (Without a terminal, runc says why on the exec's own
	// stderr, and the shim hears only its exit status.)
	id := strings.TrimSpace(dd.DockerT(t, "run", "--pull=never", "-d", "--network", "none", "--runtime", "runc", "busybox", "sleep", "60"))
	for cmd, want := range map[string]int{"nosuchcmd": 127, "/etc/passwd": 126} {
		c := dd.DockerCmd("exec", "-t", id, cmd)
		out, err := c.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != want {
			t.Errorf("exec -t under runc, %s: %v %s; want exit code %d", cmd, err, out, want)
		}
	}
	dd.DockerT(t, "rm", "-f", id)
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
