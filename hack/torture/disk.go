package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// disk is the file system of the torture daemon's data-root: an ext4
// image file of its own, loop-mounted (autoclear: the loop device goes
// with the last unmount, also cleanup's lazy one), so that a round can
// run the workload on a full data-root (issue #19, "Full disk"). The
// filler lives beside the data-root, not in it.
type disk struct {
	dir    string // the mount point; the data-root is dir/data
	filler string
}

func newDisk(root string, size int64) (*disk, error) {
	img := filepath.Join(root, "disk.img")
	f, err := os.Create(img)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		return nil, err
	}
	k := &disk{dir: filepath.Join(root, "disk")}
	k.filler = filepath.Join(k.dir, "filler")
	// -m 0: no blocks reserved for root, which the daemon is.
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mkfs.ext4 (Debian package e2fsprogs): %v: %s", err, out)
	}
	if err := os.MkdirAll(k.dir, 0o711); err != nil {
		return nil, err
	}
	if out, err := exec.Command("mount", "-o", "loop", img, k.dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mount -o loop: %v: %s", err, out)
	}
	return k, nil
}

func (k *disk) dataRoot() string { return filepath.Join(k.dir, "data") }

// fill takes all the space but about leave bytes.
func (k *disk) fill(leave int64) error {
	f, err := os.OpenFile(k.filler, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Statfs(k.dir, &st); err != nil {
		return err
	}
	// Step down until it fits: the filler's own extent blocks count.
	for n := int64(st.Bavail)*st.Bsize - leave; n > 0; n -= 16 << 10 {
		err := unix.Fallocate(int(f.Fd()), 0, 0, n)
		if err == nil || !errors.Is(err, unix.ENOSPC) {
			return err
		}
	}
	return nil
}

// unfill gives the space back.
func (k *disk) unfill() error {
	if err := os.Remove(k.filler); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
