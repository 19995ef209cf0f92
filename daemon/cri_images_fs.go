package daemon

import (
	"context"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/berthd/berth/daemon/backend"
)

// fsUsageTTL is how long a measured usage is answered again: kubelet asks
// for ImageFsInfo every few seconds, and walking a large layer store each
// time would cost more than the answer is worth (containerd refreshes its
// snapshot usage every 10 s too).
const fsUsageTTL = 10 * time.Second

// fsUsageCache keeps the last measurement per directory.
type fsUsageCache struct {
	mu   sync.Mutex
	last map[string]backend.CRIFilesystem
}

var criFsUsage fsUsageCache

// CRIImageFsInfo measures where images (DATA_ROOT/image) and containers'
// writable layers (DATA_ROOT/containers) live.
func (d *Daemon) CRIImageFsInfo(ctx context.Context) (*backend.CRIFsInfo, error) {
	root := d.Config().DataRoot
	return &backend.CRIFsInfo{
		Images:     criFsUsage.get(filepath.Join(root, "image")),
		Containers: criFsUsage.get(filepath.Join(root, "containers")),
	}, nil
}

func (c *fsUsageCache) get(dir string) backend.CRIFilesystem {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.last[dir]; ok && time.Since(u.Timestamp) < fsUsageTTL {
		return u
	}
	u := measureFs(dir)
	if c.last == nil {
		c.last = map[string]backend.CRIFilesystem{}
	}
	c.last[dir] = u
	return u
}

// measureFs counts the bytes allocated to dir's tree and its inodes,
// each hard-linked inode once (layers share files by hard link). Like
// du -x it stays on dir's filesystem: a running container's merged
// overlay mount (and its shm) would otherwise count its image again.
func measureFs(dir string) backend.CRIFilesystem {
	u := backend.CRIFilesystem{Mountpoint: dir, Timestamp: time.Now()}
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var top syscall.Stat_t
	if err := syscall.Lstat(dir, &top); err != nil {
		return u
	}
	rootDev := uint64(top.Dev)
	filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := de.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if uint64(st.Dev) != rootDev {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		k := inode{uint64(st.Dev), st.Ino}
		if st.Nlink > 1 {
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		u.UsedInodes++
		u.UsedBytes += uint64(st.Blocks) * 512
		return nil
	})
	return u
}
