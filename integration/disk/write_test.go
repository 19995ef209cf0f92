package disk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/integration/internal/loopfs"
)

// TestCpNoSpace: `docker cp` of a file bigger than the space left into a
// container fails with ENOSPC; the container keeps running and the copy
// succeeds once the space is back.
func TestCpNoSpace(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{})
	d.DockerT(t, "run", "-d", "--name", "ctr", harness.BusyboxImage, "sleep", "1000")
	src := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(src, make([]byte, 24<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	fs.Fill(8 << 20)
	out, errOut, err := d.Docker("cp", src, "ctr:/big")
	wantNoSpace(t, "docker cp", err, out, errOut)
	if st := d.DockerT(t, "inspect", "-f", "{{.State.Running}}", "ctr"); st != "true\n" {
		t.Fatalf("container running after the failed cp: %s", st)
	}
	d.CheckMetadata(t)

	fs.Unfill()
	d.DockerT(t, "cp", src, "ctr:/big")
	if got := d.DockerT(t, "exec", "ctr", "sh", "-c", "wc -c </big"); got != "25165824\n" {
		t.Fatalf("copied /big holds %q bytes", got)
	}
	d.DockerT(t, "rm", "-f", "ctr")
}

// TestVolumeNoSpace: a container writing more than the space left into
// a named volume sees ENOSPC; with no space at all, creating a volume or
// a container fails with ENOSPC and records nothing. All of it works
// once the space is back.
func TestVolumeNoSpace(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{})
	d.DockerT(t, "volume", "create", "vol")
	fs.Fill(4 << 20)
	out, errOut, err := d.Docker("run", "--rm", "-v", "vol:/data", harness.BusyboxImage, "sh", "-c", writeCmd("/data/f", 16))
	wantNoSpace(t, "a write into a volume", err, out, errOut)

	fs.Fill(0)
	wantNothingCreated(t, d)

	fs.Unfill()
	d.DockerT(t, "run", "--rm", "-v", "vol:/data", harness.BusyboxImage, "sh", "-c", writeCmd("/data/f", 16))
	d.DockerT(t, "volume", "create", "v2")
	d.DockerT(t, "create", "--name", "c2", harness.BusyboxImage, "true")
}

// wantNothingCreated checks, on a data-root with no room left, that a
// volume create and a container create fail with ENOSPC and leave no
// trace in the listings, on disk or after a restart.
func wantNothingCreated(t *testing.T, d *harness.Daemon) {
	t.Helper()
	vols := d.DockerT(t, "volume", "ls", "-q")
	ctrs := d.DockerT(t, "ps", "-a", "-q")
	entries := func(dir string) int {
		ents, _ := os.ReadDir(filepath.Join(d.DataRoot, dir))
		return len(ents)
	}
	nVols, nCtrs := entries("volumes"), entries("containers")
	out, errOut, err := d.Docker("volume", "create", "v2")
	wantNoSpace(t, "docker volume create", err, out, errOut)
	out, errOut, err = d.Docker("create", "--name", "c2", harness.BusyboxImage, "true")
	wantNoSpace(t, "docker create", err, out, errOut)
	check := func(when string) {
		t.Helper()
		if now := d.DockerT(t, "volume", "ls", "-q"); now != vols {
			t.Fatalf("%s: volumes %q, before %q", when, now, vols)
		}
		if now := d.DockerT(t, "ps", "-a", "-q"); now != ctrs {
			t.Fatalf("%s: containers %q, before %q", when, now, ctrs)
		}
		if n, m := entries("volumes"), entries("containers"); n != nVols || m != nCtrs {
			t.Fatalf("%s: %d entries in volumes/ (before %d), %d in containers/ (before %d)", when, n, nVols, m, nCtrs)
		}
		d.CheckMetadata(t)
	}
	check("after the failures")
	if err := d.Restart(false); err != nil {
		t.Fatalf("restart on the full data-root: %v", err)
	}
	check("after a restart")
	if strings.Contains(d.DockerT(t, "volume", "ls", "-q"), "v2") {
		t.Fatal("v2 listed")
	}
}

// TestVolumeRmNoSpace: a volume is removable on a full data-root, also
// when the volumes directory has no room for another entry (the rename
// to a trash name that removal did first failed then), and stays removed
// across a restart.
func TestVolumeRmNoSpace(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{})
	d.DockerT(t, "volume", "create", "vol")
	d.DockerT(t, "run", "--rm", "-v", "vol:/data", harness.BusyboxImage, "sh", "-c", writeCmd("/data/f", 8))
	fs.Fill(0)
	// Entries the daemon takes for its own trash (and deletes at its
	// next start) until the directory has no room left for one more.
	fs.FillDir(filepath.Join(d.DataRoot, "volumes"), "_removing-pad-")
	d.DockerT(t, "volume", "rm", "vol")
	if fs.Free() < 8<<20 {
		t.Fatalf("the removed volume's data still takes its space (%d bytes free)", fs.Free())
	}
	if err := d.Restart(false); err != nil {
		t.Fatal(err)
	}
	if vols := d.DockerT(t, "volume", "ls", "-q"); vols != "" {
		t.Fatalf("volumes after a restart: %q", vols)
	}
}
