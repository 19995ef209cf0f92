package harness

import (
	"path/filepath"
	"testing"

	"github.com/berthd/berth/integration/internal/testimage"
)

// Test image references, as the acceptance suite names them.
const (
	BusyboxImage  = "busybox:latest"
	TwoLayerImage = "busybox2:latest"
)

// WriteTestImage writes a test image tarball under the daemon's root and
// returns its path and image ID.
func (d *Daemon) WriteTestImage(t testing.TB, ref string, twoLayers bool) (path, id string) {
	t.Helper()
	Require(t, fileExists(testimage.Busybox), "%s (Debian package busybox-static)", testimage.Busybox)
	path = filepath.Join(d.Root, "img-"+randomHex(4)+".tar")
	id, err := testimage.Write(path, ref, twoLayers)
	if err != nil {
		t.Fatal(err)
	}
	return path, id
}

// LoadTestImages loads busybox:latest and the two-layer busybox2:latest
// into the daemon with `docker load`.
func (d *Daemon) LoadTestImages(t testing.TB) {
	t.Helper()
	for _, img := range []struct {
		ref string
		two bool
	}{{BusyboxImage, false}, {TwoLayerImage, true}} {
		p, _ := d.WriteTestImage(t, img.ref, img.two)
		d.DockerT(t, "load", "-i", p)
	}
}
