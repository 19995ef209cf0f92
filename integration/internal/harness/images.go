package harness

import (
	"os"
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

// BuildPauseImage builds ref from the test image, as a pod sandbox's
// image (--pod-sandbox-image): a shell that sleeps until SIGTERM, as the
// real pause does. No registry is reached.
func (d *Daemon) BuildPauseImage(t testing.TB, ref string) {
	t.Helper()
	dir := t.TempDir()
	dockerfile := "FROM " + BusyboxImage + "\n" +
		`ENTRYPOINT ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := d.DockerCmd("build", "-q", "-t", ref, dir)
	cmd.Env = append(cmd.Env, "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the pause image: %v\n%s", err, out)
	}
}
