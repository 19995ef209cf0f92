package disk

import (
	"reflect"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/integration/internal/loopfs"
)

// readOnly is how an error ends when a write meets EROFS.
const readOnly = "read-only file system"

// TestReadOnlyDataRoot: with the data-root remounted read-only (as the
// kernel does after an I/O error), the daemon keeps answering reads,
// every write fails saying "read-only file system" and changes nothing,
// and all works again once it is remounted read-write.
func TestReadOnlyDataRoot(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{})
	d.DockerT(t, "run", "--name", "done", harness.BusyboxImage, "echo", "hello")
	d.DockerT(t, "volume", "create", "vol")
	tarball, _ := d.WriteTestImage(t, harness.TwoLayerImage, true)
	before := d.ImageState(t)
	ps := d.DockerT(t, "ps", "-a", "-q")

	fs.ReadOnly()
	t.Cleanup(func() {
		// A remount may fail while a write is under way; the loop
		// file system's cleanup unmounts it anyway.
		if t.Failed() {
			fs.Writable()
		}
	})
	for _, read := range [][]string{
		{"images"}, {"ps", "-a"}, {"inspect", "done"}, {"image", "inspect", harness.BusyboxImage},
		{"volume", "ls"}, {"volume", "inspect", "vol"}, {"system", "df"}, {"info"}, {"history", harness.BusyboxImage},
	} {
		d.DockerT(t, read...)
	}
	if got := d.DockerT(t, "logs", "done"); got != "hello\n" {
		t.Fatalf("logs on a read-only data-root: %q", got)
	}
	for _, write := range [][]string{
		{"load", "-i", tarball},
		{"tag", harness.BusyboxImage, "other:1"},
		{"volume", "create", "vol2"},
		{"create", "--name", "new", harness.BusyboxImage, "true"},
		{"run", "--rm", harness.BusyboxImage, "true"},
		{"commit", "done", "committed:1"},
		{"rename", "done", "renamed"},
	} {
		out, errOut, err := d.Docker(write...)
		harness.WantFailure(t, "docker "+strings.Join(write, " ")+" on a read-only data-root", err, readOnly, out, errOut)
	}
	if now := d.ImageState(t); !reflect.DeepEqual(now, before) {
		t.Fatalf("writes on a read-only data-root changed the state\nbefore: %v\nafter:  %v", before, now)
	}
	if now := d.DockerT(t, "ps", "-a", "-q"); now != ps {
		t.Fatalf("containers %q, before %q", now, ps)
	}
	if vols := d.DockerT(t, "volume", "ls", "-q"); vols != "vol\n" {
		t.Fatalf("volumes %q", vols)
	}

	fs.Writable()
	d.DockerT(t, "load", "-i", tarball)
	d.DockerT(t, "tag", harness.BusyboxImage, "other:1")
	d.DockerT(t, "volume", "create", "vol2")
	d.DockerT(t, "commit", "done", "committed:1")
	d.DockerT(t, "rename", "done", "renamed")
	// The failed create kept no hold on the name.
	d.DockerT(t, "create", "--name", "new", harness.BusyboxImage, "true")
	if got := d.DockerT(t, "run", "--rm", "-v", "vol2:/data", harness.TwoLayerImage, "cat", "/layer2.txt"); got == "" {
		t.Fatal("no output from a container after the remount")
	}
	d.CheckMetadata(t)
	if err := d.Restart(false); err != nil {
		t.Fatal(err)
	}
	d.DockerT(t, "start", "-a", "renamed")
}
