package system

import (
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestContainerOutlivesForceRemovedImage: after `docker rmi -f` of its
// image, a created container still starts from the layers it holds.
func TestContainerOutlivesForceRemovedImage(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{})
	dd.LoadTestImages(t)
	id := strings.TrimSpace(dd.DockerT(t, "create", "--pull=never", "--network", "none", "busybox", "echo", "still runs"))
	dd.DockerT(t, "rmi", "-f", "busybox")
	if out := dd.DockerT(t, "start", "-a", id); strings.TrimSpace(out) != "still runs" {
		t.Fatalf("start after rmi -f: %q", out)
	}
	dd.DockerT(t, "rm", id)
}
