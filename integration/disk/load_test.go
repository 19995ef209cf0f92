package disk

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
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

// TestRmiNoSpace: on a full data-root, with the layer store's scratch
// directory (where a removal moves a layer first) out of room for
// another entry too, `docker rmi` removes a dangling image and gives its
// space back at once; a restart finds the store as before the image.
// (A tagged image's removal needs a block for the names' file: with
// none at all left it fails, saying so, and changes nothing.)
func TestRmiNoSpace(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{})
	before := d.ImageState(t)
	// A dangling image: removing it rewrites no name (references.json,
	// which a disk with no block left cannot take).
	d.DockerT(t, "run", "--name", "ctr", harness.BusyboxImage, "sh", "-c", writeCmd("/big", 24))
	id := strings.TrimSpace(d.DockerT(t, "commit", "ctr"))
	d.DockerT(t, "rm", "ctr")
	fs.Fill(0)
	// The next start empties tmp/.
	fs.FillDir(filepath.Join(d.DataRoot, "image", "layers", "tmp"), "pad-")
	d.DockerT(t, "rmi", id)
	if free := fs.Free(); free < 20<<20 {
		t.Fatalf("the removed image's layer still takes its space (%d bytes free)", free)
	}
	if err := d.Restart(false); err != nil {
		t.Fatal(err)
	}
	if now := d.ImageState(t); !reflect.DeepEqual(now, before) {
		t.Fatalf("after rmi and a restart\nbefore: %v\nafter:  %v", before, now)
	}
}

// TestRmiTaggedNoSpace: with no block left at all, `docker rmi` of a
// tagged image still works (the names' file is rewritten whole, in the
// room of a spare the daemon keeps for this), frees the image's space,
// and stays done across a restart.
func TestRmiTaggedNoSpace(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{})
	before := d.ImageState(t)
	d.DockerT(t, "load", "-i", bigImage(t, d, "big:1", 24))
	fs.Fill(0)
	d.DockerT(t, "rmi", "big:1")
	if free := fs.Free(); free < 20<<20 {
		t.Fatalf("the removed image's layer still takes its space (%d bytes free)", free)
	}
	if err := d.Restart(false); err != nil {
		t.Fatal(err)
	}
	if now := d.ImageState(t); !reflect.DeepEqual(now, before) {
		t.Fatalf("after rmi and a restart\nbefore: %v\nafter:  %v", before, now)
	}
}
