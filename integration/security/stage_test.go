package security

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestStagesRunFromSealedStageBinary: a daemon built by make runs its
// shims and its containers' init and exec stages from a sealed in-memory
// copy of the small berth-stage binary beside it (not from berthd, not
// from the file on disk, which a container must never be able to reach).
func TestStagesRunFromSealedStageBinary(t *testing.T) {
	dd := setup(t)
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	stage, err := os.Stat(filepath.Join(filepath.Dir(bin), "berth-stage"))
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no berth-stage beside %s (make build makes both): %v", bin, err)
		}
		t.Skipf("no berth-stage beside %s", bin)
	}
	id := run(t, dd, harness.BusyboxImage, "sleep", "600")
	pid, err := strconv.Atoi(strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.State.Pid}}", id)))
	if err != nil {
		t.Fatal(err)
	}
	shim := parentPid(t, pid)
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", shim))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(exe, "/memfd:berthd-init") {
		t.Fatalf("shim %d runs from %q, want the sealed memfd", shim, exe)
	}
	st, err := os.Stat(fmt.Sprintf("/proc/%d/exe", shim))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != stage.Size() {
		t.Fatalf("shim's sealed binary is %d bytes, berth-stage %d: stages run from berthd itself", st.Size(), stage.Size())
	}
	// An exec's stage comes from the same copy and still runs the command.
	if out := strings.TrimSpace(dd.DockerT(t, "exec", id, "echo", "ok")); out != "ok" {
		t.Fatalf("exec through the stage binary: %q", out)
	}
}

// parentPid is pid's parent, from /proc/PID/status.
func parentPid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no PPid for %d", pid)
	return 0
}
