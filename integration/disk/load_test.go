package disk

import (
	"testing"

	"github.com/berthd/berth/integration/internal/loopfs"
)

// TestLoadNoSpace: `docker load` of an image bigger than the space left
// fails with ENOSPC, leaves no image, layer, blob or scratch directory,
// and loads once the space is back.
func TestLoadNoSpace(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{})
	tarball := bigImage(t, d, "big:1", 24)
	before := d.ImageState(t)
	if left := fs.Fill(8 << 20); left > 12<<20 {
		t.Fatalf("fill left %d bytes", left)
	}
	out, errOut, err := d.Docker("load", "-i", tarball)
	wantNoSpace(t, "docker load", err, out, errOut)
	d.WantImageState(t, before)

	fs.Unfill()
	d.DockerT(t, "load", "-i", tarball)
	if got := d.DockerT(t, "run", "--rm", "big:1", "sh", "-c", "wc -c </big"); got != "25165824\n" {
		t.Fatalf("loaded image's /big holds %q bytes", got)
	}
}
