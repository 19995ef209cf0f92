package disk

import (
	"path/filepath"
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
	d, fs := loopfs.Daemon(t, o)
	p, _ := d.WriteTestImage(t, harness.BusyboxImage, false)
	d.DockerT(t, "load", "-i", p)
	return d, fs
}

// wantNoSpace fails t unless err is a failure whose output names ENOSPC.
func wantNoSpace(t *testing.T, what string, err error, out ...string) {
	t.Helper()
	harness.WantFailure(t, what+" on a full data-root", err, noSpace, out...)
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
