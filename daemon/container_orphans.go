package daemon

import (
	"context"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/stringid"
)

// endOrphanedProcesses SIGKILLs whatever is left in c's cgroup once its
// shim is gone without recording an exit (killed, or crashed): the shim
// held the container's init as its child, and the init outlives it,
// reparented, with its cgroup, its mounts in use and its network, and
// nothing else would ever end it. The exit is then recorded as dockerd
// records a task whose shim died: 137. The caller holds c's lock.
func (d *Daemon) endOrphanedProcesses(c *ctr.Container) {
	cg, err := cgroups.New(d.cgroupPath(c))
	if err != nil {
		return
	}
	// A paused container's tasks take no signal until thawed.
	_ = cg.Thaw()
	deadline := time.Now().Add(5 * time.Second)
	killed := 0
	for time.Now().Before(deadline) {
		pids, err := cg.Pids()
		if err != nil || len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if killed > 0 {
		logrus.WithFields(logrus.Fields{"container": stringid.TruncateID(c.ID), "processes": killed}).Warn("killed the processes the container's lost shim left")
	}
	d.stopScope(context.Background(), c, true)
	if err := cg.Destroy(); err != nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Debug("removing the cgroup of a lost shim")
	}
}
