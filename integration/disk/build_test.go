package disk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/integration/internal/loopfs"
)

// TestBuildNoSpace: a build whose RUN writes more than the space left,
// or whose step's layer does not fit, fails with ENOSPC, tags nothing,
// leaves no intermediate container, layer or dangling image, and builds
// once the space is back.
func TestBuildNoSpace(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{})
	ctx := t.TempDir()
	df := "FROM " + harness.BusyboxImage + "\nRUN " + writeCmd("/big", 24) + "\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	before := d.ImageState(t)
	// First the RUN itself runs out of space; then it fits (24 of 36
	// MiB) but the layer made of it does not.
	for _, leave := range []int64{8 << 20, 36 << 20} {
		fs.Fill(leave)
		out, errOut, err := d.Docker("build", "--force-rm", "-t", "built:1", ctx)
		wantNoSpace(t, "docker build", err, out, errOut)
		if ps := d.DockerT(t, "ps", "-a", "-q"); strings.TrimSpace(ps) != "" {
			t.Fatalf("the failed build left containers: %s", ps)
		}
		d.WantImageState(t, before)
		fs.Unfill()
	}

	d.DockerT(t, "build", "-t", "built:1", ctx)
	if got := d.DockerT(t, "run", "--rm", "built:1", "sh", "-c", "wc -c </big"); got != "25165824\n" {
		t.Fatalf("built image's /big holds %q bytes", got)
	}
}

// TestCommitNoSpace: committing a container whose diff is bigger than
// the space left fails with ENOSPC and leaves no image or layer; the
// container is untouched and commits once the space is back.
func TestCommitNoSpace(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{})
	d.DockerT(t, "run", "--name", "ctr", harness.BusyboxImage, "sh", "-c", writeCmd("/big", 24))
	before := d.ImageState(t)
	fs.Fill(8 << 20)
	out, errOut, err := d.Docker("commit", "ctr", "committed:1")
	wantNoSpace(t, "docker commit", err, out, errOut)
	d.WantImageState(t, before)

	fs.Unfill()
	d.DockerT(t, "commit", "ctr", "committed:1")
	if got := d.DockerT(t, "run", "--rm", "committed:1", "sh", "-c", "wc -c </big"); got != "25165824\n" {
		t.Fatalf("committed image's /big holds %q bytes", got)
	}
}
