package registry

import (
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/integration/internal/loopfs"
)

// TestPullNoSpace (issue #19, full disk): a pull onto a data-root without
// room for it fails with ENOSPC and leaves no image, layer, blob or
// download behind, across a restart; it succeeds once space is freed.
// Two images: random data, whose download itself does not fit, and
// zeros, whose small download fits but whose layer does not.
func TestPullNoSpace(t *testing.T) {
	r := startRegistry(t, plainHTTP)
	dd, fs := loopfs.Daemon(t, loopfs.Options{Size: 128 << 20})
	p, _ := dd.WriteTestImage(t, harness.BusyboxImage, false)
	dd.DockerT(t, "load", "-i", p)
	refs := map[string]string{
		r.Addr + "/full/random:1": "dd if=/dev/urandom of=/big bs=1M count=24",
		r.Addr + "/full/zeros:1":  "dd if=/dev/zero of=/big bs=1M count=24",
	}
	for ref, script := range refs {
		dd.DockerT(t, "run", "--name", "writer", harness.BusyboxImage, "sh", "-c", script)
		dd.DockerT(t, "commit", "writer", ref)
		dd.DockerT(t, "rm", "writer")
		dd.DockerT(t, "push", ref)
		dd.DockerT(t, "rmi", ref)
	}
	before := dd.ImageState(t)
	fs.Fill(8 << 20)
	for ref := range refs {
		out, errOut, err := dd.Docker("pull", ref)
		harness.WantFailure(t, "docker pull "+ref+" on a full data-root", err, "no space left on device", out, errOut)
		dd.WantImageState(t, before)
	}

	fs.Unfill()
	for ref := range refs {
		dd.DockerT(t, "pull", ref)
		if got := dd.DockerT(t, "run", "--rm", ref, "sh", "-c", "wc -c </big"); got != "25165824\n" {
			t.Fatalf("pulled %s's /big holds %q bytes", ref, got)
		}
	}
}
