package security

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// A container waiting for its restart policy's next start is still
// "running" to the API, but its overlay is unmounted and it has no
// process. A docker cp into it must land in its layer, where the restart
// finds it, not in the bare mount point the restart then covers (where the
// file was lost and the copy reported success).
func TestCpIntoRestartingContainerLands(t *testing.T) {
	dd := setup(t)
	// Exits until /marker exists; the policy's backoff doubles, so the
	// container soon spends most of its time waiting to restart.
	id := strings.TrimSpace(dd.DockerT(t, "run", "-d", "--pull=never", "--network", "none", "--restart", "always",
		harness.BusyboxImage, "sh", "-c", "test -f /marker && exec sleep 600; exit 1"))
	t.Cleanup(func() { dd.Docker("rm", "-f", "-v", id) })
	src := filepath.Join(t.TempDir(), "marker")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	copied := false
	for time.Now().Before(deadline) && !copied {
		state := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.State.Restarting}}", id))
		if state != "true" {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if _, errOut, err := dd.Docker("cp", src, id+":/marker"); err != nil {
			t.Fatalf("cp into a restarting container: %v %s", err, errOut)
		}
		copied = true
	}
	if !copied {
		t.Fatal("the container was never seen waiting for its restart")
	}
	// The next start finds /marker and stays up.
	for time.Now().Before(deadline.Add(30 * time.Second)) {
		out := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.State.Running}} {{.State.Restarting}}", id))
		if out == "true false" {
			if _, _, err := dd.Docker("exec", id, "test", "-f", "/marker"); err == nil {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the file copied in while the container waited for its restart was lost: it never stayed up")
}
