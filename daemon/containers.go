package daemon

import (
	"os"

	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/moby/moby/api/types/mount"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/stringid"
	"github.com/berthd/berth/pkg/topdir"
)

// initContainers loads every container recorded under the data-root. It
// only reads small JSON files, so start-up stays fast with many containers;
// reattaching to running ones (live-restore) is done by the runtime code
// after the API is up.
func (d *Daemon) initContainers() error {
	// One directory per container under each: spread over the
	// filesystem's block groups (pkg/topdir).
	for _, dir := range []string{filepath.Join(d.cfg.DataRoot, "containers"), filepath.Join(d.cfg.ExecRoot, "s")} {
		if err := topdir.Mark(dir, 0o711); err != nil {
			return err
		}
	}
	d.containers = container.NewStore(filepath.Join(d.cfg.DataRoot, "containers"))
	loaded, err := d.containers.LoadAll(func(dir string) {
		// A removal or create the last daemon did not finish: its root may
		// still be mounted, and its layer hold is still taken.
		unix.Unmount(filepath.Join(dir, "fs", "merged"), unix.MNT_DETACH)
		unbindSubpathsIn(dir)
		if d.images != nil {
			d.images.Release(filepath.Base(dir))
		}
		if err := os.RemoveAll(dir); err != nil {
			logrus.WithError(err).WithField("dir", dir).Warn("could not remove a broken container directory")
		}
	})
	if err != nil {
		return err
	}
	if len(loaded) > 0 {
		logrus.WithField("count", len(loaded)).Info("loaded containers")
	}
	// Volume references live in memory: take them again before the API
	// serves, or a volume rm or prune could take a volume a stopped
	// container names (dockerd answers "volume is in use").
	for _, c := range d.containers.List() {
		if !c.State.Running {
			// A root file system a killed daemon left mounted (a commit,
			// cp or export of a stopped container, cut short): nothing
			// else unmounts it before the container starts or goes.
			d.unmountRootfs(c)
		}
		mps, err := containerVolumeMounts(c)
		if err != nil {
			continue
		}
		for _, mp := range mps {
			if mp != nil && mp.Type == mount.TypeVolume && mp.Name != "" {
				d.volumes.Restore(mp.Name, c.ID)
			}
		}
	}
	return nil
}

// saveOrLog saves c after a change that has already happened, to its
// process or in the memory every API call reads, and that no caller could
// act on a failure to record: a stop or pause that took effect, an exit,
// a failed start or removal whose own error is what the caller gets. As
// dockerd does there, the failure is logged with c's ID and the change
// stands; the next save of c records it. The caller holds c's lock.
func saveOrLog(c *container.Container) {
	if err := c.Save(); err != nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Error("could not save the container's state")
	}
}
