package disk

import (
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/integration/internal/loopfs"
)

// TestInodesExhausted: with the data-root's inode table used up (and
// space to spare), a load (one that runs out half-way through a layer
// too), a volume create and a container create fail with ENOSPC and
// leave nothing behind; all of them work once inodes are freed.
func TestInodesExhausted(t *testing.T) {
	// A small inode table: the test image takes a few hundred.
	d, fs := newDaemon(t, loopfs.Options{Inodes: 4096})
	tarball, _ := d.WriteTestImage(t, harness.TwoLayerImage, true)
	many := savedImage(t, d, "many:1", "mkdir /many && cd /many && for i in $(seq 1000); do : >$i; done")
	before := d.ImageState(t)

	fs.FillInodes(300)
	out, errOut, err := d.Docker("load", "-i", many)
	wantNoSpace(t, "docker load half-way through a layer", err, out, errOut)
	d.WantImageState(t, before)

	if left := fs.FillInodes(0); left != 0 {
		t.Fatalf("%d inodes left after the fill", left)
	}
	out, errOut, err = d.Docker("load", "-i", tarball)
	wantNoSpace(t, "docker load", err, out, errOut)
	d.WantImageState(t, before)
	wantNothingCreated(t, d)

	fs.Unfill()
	d.DockerT(t, "load", "-i", tarball)
	d.DockerT(t, "load", "-i", many)
	if got := d.DockerT(t, "run", "--rm", "many:1", "sh", "-c", "ls /many | wc -l"); got != "1000\n" {
		t.Fatalf("loaded image's /many holds %q files", got)
	}
	d.DockerT(t, "volume", "create", "v2")
	d.DockerT(t, "run", "--rm", "-v", "v2:/data", harness.TwoLayerImage, "cat", "/layer2.txt")
}
