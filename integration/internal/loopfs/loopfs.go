package loopfs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/integration/internal/harness"
)

// Options shape the file system.
type Options struct {
	// Size of the image file in bytes.
	Size int64
	// Inodes is mkfs.ext4's -N: the inode table's size (ext4 rounds it
	// up to fill its groups); 0 leaves mkfs's default.
	Inodes int
}

// FS is one mounted loop file system.
type FS struct {
	// Dir is the mount point; the test's data-root.
	Dir string
	// fillDir holds the fillers; it lives outside Dir/data so a daemon
	// never sees it as its own.
	fillDir string
	root    string
	device  string
	t       testing.TB
}

// New makes, attaches and mounts a file system and registers its removal
// with t.Cleanup. Register it before the daemon that uses it, so that the
// daemon's cleanup (which stops it) runs first.
func New(t testing.TB, o Options) *FS {
	t.Helper()
	for _, tool := range []string{"mkfs.ext4", "losetup", "mount", "umount"} {
		_, err := exec.LookPath(tool)
		harness.Require(t, err == nil, "%s (Debian packages e2fsprogs, mount)", tool)
	}
	root, err := os.MkdirTemp("", "bt-loop-")
	if err != nil {
		t.Fatal(err)
	}
	fs := &FS{root: root, Dir: filepath.Join(root, "mnt"), t: t}
	t.Cleanup(fs.remove)
	img := filepath.Join(root, "fs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(o.Size)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// No reserved blocks: the daemon runs as root and would use them,
	// and "space left" should mean what statfs says to everyone.
	args := []string{"-q", "-F", "-m", "0", "-E", "lazy_itable_init=0,lazy_journal_init=0"}
	if o.Inodes > 0 {
		args = append(args, "-N", strconv.Itoa(o.Inodes))
	}
	run(t, "mkfs.ext4", append(args, img)...)
	fs.device = strings.TrimSpace(run(t, "losetup", "--find", "--show", img))
	if err := os.MkdirAll(fs.Dir, 0o711); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-t", "ext4", fs.device, fs.Dir)
	fs.fillDir = filepath.Join(fs.Dir, "filler")
	if err := os.Mkdir(fs.fillDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return fs
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// DataRoot is the daemon's data-root on this file system.
func (fs *FS) DataRoot() string { return filepath.Join(fs.Dir, "data") }

// Free is the space left, in bytes (ext4 keeps a few MiB of reserved
// clusters out of everyone's reach, root's too, even with -m 0).
func (fs *FS) Free() int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(fs.Dir, &st); err != nil {
		fs.t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// FreeInodes is the number of inodes left.
func (fs *FS) FreeInodes() uint64 {
	var st unix.Statfs_t
	if err := unix.Statfs(fs.Dir, &st); err != nil {
		fs.t.Fatal(err)
	}
	return st.Ffree
}

// Fill takes all the space but about leave bytes with one preallocated
// file, and returns the space left.
func (fs *FS) Fill(leave int64) int64 {
	fs.t.Helper()
	f, err := os.CreateTemp(fs.fillDir, "space-")
	if err != nil {
		fs.t.Fatal(err)
	}
	defer f.Close()
	// Step down until it fits: the free count includes blocks that the
	// extent tree of the filler itself needs.
	for n := fs.Free() - leave; n > 0; n -= 16 << 10 {
		if err := unix.Fallocate(int(f.Fd()), 0, 0, n); err == nil {
			break
		} else if !errors.Is(err, unix.ENOSPC) {
			fs.t.Fatal(err)
		}
	}
	return fs.Free()
}

// FillInodes takes every inode left but leave with empty files, and
// returns the number left.
func (fs *FS) FillInodes(leave uint64) uint64 {
	fs.t.Helper()
	dir, err := os.MkdirTemp(fs.fillDir, "inodes-")
	if err != nil {
		fs.t.Fatal(err)
	}
	for i := 0; ; i++ {
		// A statfs every 50 files: "exhausted" may overshoot leave by
		// as many.
		if i%50 == 0 && fs.FreeInodes() <= leave {
			break
		}
		f, err := os.Create(filepath.Join(dir, strconv.Itoa(i)))
		if errors.Is(err, unix.ENOSPC) {
			break
		}
		if err != nil {
			fs.t.Fatal(err)
		}
		f.Close()
	}
	return fs.FreeInodes()
}

// Unfill removes every filler, giving back their space and inodes.
func (fs *FS) Unfill() {
	fs.t.Helper()
	ents, _ := os.ReadDir(fs.fillDir)
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(fs.fillDir, e.Name())); err != nil {
			fs.t.Fatal(err)
		}
	}
}

// ReadOnly remounts the file system read-only, as an administrator does
// (the kernel's own remount after an I/O error aborts the journal: only
// an unmount and fsck bring that back). It fails while a file on it is
// open for writing or a container's overlay uses it.
func (fs *FS) ReadOnly() { fs.t.Helper(); run(fs.t, "mount", "-o", "remount,ro", fs.Dir) }

// Writable remounts the file system read-write.
func (fs *FS) Writable() { fs.t.Helper(); run(fs.t, "mount", "-o", "remount,rw", fs.Dir) }

// remove unmounts what is left mounted below and on Dir, detaches the
// loop device and deletes the image file.
func (fs *FS) remove() {
	harness.UnmountBelow(fs.Dir)
	for i := 0; ; i++ {
		err := unix.Unmount(fs.Dir, 0)
		if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break
		}
		if i == 50 {
			// Busy for good (a process of the test's still in it): detach
			// it lazily; the loop device goes when its last user does.
			unix.Unmount(fs.Dir, unix.MNT_DETACH)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if fs.device != "" {
		exec.Command("losetup", "-d", fs.device).Run()
	}
	os.RemoveAll(fs.root)
}

// Daemon starts a fresh berthd (harness.Fresh) whose data-root is on a
// new loop file system, and returns both; the file system outlives the
// daemon, which is stopped first at cleanup.
func Daemon(t testing.TB, o Options) (*harness.Daemon, *FS) {
	t.Helper()
	fs := New(t, o)
	d := harness.Fresh(t, harness.Options{DataRoot: fs.DataRoot()})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("berthd log tail:\n%s", d.LogTail(40))
		}
	})
	return d, fs
}

// FillDir adds empty files named prefix0, prefix1, … to dir until it has
// no room for another entry: on a full file system, a new entry in dir
// (a rename into it, a file created in it) then fails with ENOSPC. Empty
// files take an entry and an inode each, no block. They are the test's to
// remove, or the daemon's when prefix names its own scratch.
func (fs *FS) FillDir(dir, prefix string) {
	fs.t.Helper()
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(dir, prefix+strconv.Itoa(i)))
		if errors.Is(err, unix.ENOSPC) {
			return
		}
		if err != nil {
			fs.t.Fatal(err)
		}
		f.Close()
	}
}
