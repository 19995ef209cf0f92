package disk

import (
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/integration/internal/loopfs"
)

// noSpace is how dockerd's errors end when a write hits ENOSPC (for a
// full disk and for an exhausted inode table alike).
const noSpace = "no space left on device"

// fsSize is each test's data-root: room for the test image and a few
// tens of MiB, small enough to fill in a moment.
const fsSize = 128 << 20

// newDaemon starts a berthd whose data-root is a fresh loop file system,
// with busybox loaded.
func newDaemon(t *testing.T, o loopfs.Options) (*harness.Daemon, *loopfs.FS) {
	t.Helper()
	if o.Size == 0 {
		o.Size = fsSize
	}
	fs := loopfs.New(t, o)
	d := harness.Fresh(t, harness.Options{DataRoot: fs.DataRoot()})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("berthd log tail:\n%s", d.LogTail(40))
		}
	})
	p, _ := d.WriteTestImage(t, harness.BusyboxImage, false)
	d.DockerT(t, "load", "-i", p)
	return d, fs
}

// wantNoSpace fails t unless err is a failure whose output names ENOSPC.
func wantNoSpace(t *testing.T, what string, err error, out ...string) {
	t.Helper()
	all := strings.Join(out, "\n")
	if err == nil {
		t.Fatalf("%s succeeded on a full data-root:\n%s", what, all)
	}
	if !strings.Contains(strings.ToLower(all), noSpace) {
		t.Fatalf("%s failed without saying %q: %v\n%s", what, noSpace, err, all)
	}
	t.Logf("%s failed as it should: %s", what, strings.TrimSpace(all))
}

// images lists every image ID the daemon reports.
func images(t *testing.T, d *harness.Daemon) []string {
	t.Helper()
	return strings.Fields(d.DockerT(t, "images", "-a", "-q", "--no-trunc"))
}

// state is what a failed write must not change: the images the API
// lists and the image store on disk.
type state struct {
	Images []string
	Store  []string
}

func equal(a, b state) bool { return reflect.DeepEqual(a, b) }

func snapshot(t *testing.T, d *harness.Daemon) state {
	t.Helper()
	return state{Images: images(t, d), Store: d.StoreSnapshot(t)}
}

// wantUnchanged fails t when the image side of the daemon differs from
// before, or a metadata file is torn; then it restarts the daemon (still
// on the full disk) and checks the same again: nothing half-written makes
// the restart fail or show up.
func wantUnchanged(t *testing.T, d *harness.Daemon, before state) {
	t.Helper()
	check := func(when string) {
		t.Helper()
		if now := snapshot(t, d); !equal(now, before) {
			t.Fatalf("%s: the failed write changed the daemon's state\nbefore: %v\nafter:  %v", when, before, now)
		}
		d.CheckMetadata(t)
	}
	check("after the failure")
	if err := d.Restart(false); err != nil {
		t.Fatalf("restart on the full data-root: %v", err)
	}
	check("after a restart")
	d.DockerT(t, "system", "df")
}

// bigImage commits a container that wrote mib MiB of random data as ref,
// saves it to a tarball outside the data-root and removes it from the
// daemon; it returns the tarball's path.
func bigImage(t *testing.T, d *harness.Daemon, ref string, mib int) string {
	t.Helper()
	return savedImage(t, d, ref, writeCmd("/big", mib))
}

// savedImage commits a container that ran script as ref, saves it to a
// tarball outside the data-root and removes it from the daemon; it
// returns the tarball's path.
func savedImage(t *testing.T, d *harness.Daemon, ref, script string) string {
	t.Helper()
	name := "img-" + strings.NewReplacer(":", "-", "/", "-").Replace(ref)
	d.DockerT(t, "run", "--name", name, harness.BusyboxImage, "sh", "-c", script)
	d.DockerT(t, "commit", name, ref)
	p := filepath.Join(d.Root, name+".tar")
	d.DockerT(t, "save", "-o", p, ref)
	d.DockerT(t, "rm", name)
	d.DockerT(t, "rmi", ref)
	return p
}

// writeCmd is a shell command writing mib MiB of random data to path.
func writeCmd(path string, mib int) string {
	return "dd if=/dev/urandom of=" + path + " bs=1M count=" + strconv.Itoa(mib) + " 2>&1"
}
