package daemon

import (
	"path/filepath"
	"sync"
	"time"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/errdefs"
)

// live is what the daemon keeps in memory about a container whose process
// exists (or is about to): its shim, the attaches waiting for it to start,
// its execs. Nothing here is persisted; after a restart it is rebuilt from
// the shims' sockets.
type live struct {
	mu       sync.Mutex
	shim     shimClient
	pending  []*pendingAttach
	stopping bool // a stop or kill by the user: no restart policy
	// restarting is a restart by the user in progress: its stop must not
	// remove an --rm container, as in dockerd.
	restarting bool
	// backoff is the delay before the next policy restart.
	backoff time.Duration
	// healthCancel stops the healthcheck loop.
	healthCancel func()
	// fsReaders are the reads of the container's files that run without
	// its lock (commit, export): a removal waits for them before it
	// deletes the files. They join only under the lock and while no
	// removal is in progress.
	fsReaders sync.WaitGroup
	// fsBusy marks a use of the container's files that must not overlap
	// a start or another such use: a view of a stopped container mounts
	// its own overlay of the writable layer (two overlays writing one
	// upper directory is undefined), and a copy into a running one
	// writes through the mount the container's exit leaves behind. It
	// is guarded by the container's lock; fsFree (whose lock is the
	// container's) wakes who waits for it.
	fsBusy bool
	// fsShared counts the reads of a running container's files (copy
	// out, export) in progress. They may overlap each other, but a view
	// keeps the container's overlay mounted after its exit, so a start
	// (a restart, a policy's) waits for them too, as for fsBusy: it
	// would mount a second overlay of the same upper directory.
	fsShared int
	fsFree   *sync.Cond
}

// runningForView says whether a view of c sees its running process's
// files. A container waiting for its policy's restart is still Running,
// but its overlay is unmounted and it has no process: it is viewed as a
// stopped one, so a copy into it lands in its layer, not in a bare mount
// point that the restart would then cover.
func runningForView(c *ctr.Container) bool {
	return c.State.Running && !c.State.Restarting && c.State.Pid > 0
}

// holdFS registers a use of c's files that runs without c's lock, which
// the caller holds: a removal waits for it before it deletes the files,
// and, when write or c is not running, so do a start and the next such
// use (see live.fsBusy). Waiting releases c's lock meanwhile, as
// sync.Cond does, so docker ps and inspect are not held up; dockerd's
// starts wait on its copies the same way, behind the container's lock.
// The returned func ends the use; it takes c's lock.
func (d *Daemon) holdFS(c *ctr.Container, write bool) (func(), error) {
	l := d.liveState(c)
	for {
		if c.State.RemovalInProgress || c.State.Dead {
			return nil, errdefs.Conflictf("container %s is being removed", c.ID)
		}
		if !write && runningForView(c) {
			l.fsShared++
			l.fsReaders.Add(1)
			return func() {
				c.Lock()
				if l.fsShared--; l.fsShared == 0 && l.fsFree != nil {
					l.fsFree.Broadcast()
				}
				c.Unlock()
				l.fsReaders.Done()
			}, nil
		}
		if !l.fsBusy {
			break
		}
		l.waitFS(c)
	}
	l.fsBusy = true
	l.fsReaders.Add(1)
	return func() {
		c.Lock()
		l.fsBusy = false
		if l.fsFree != nil {
			l.fsFree.Broadcast()
		}
		c.Unlock()
		l.fsReaders.Done()
	}, nil
}

// waitFSFree returns, with c's lock held as on entry, once no use of c's
// files through a view (holdFS) is in progress. A start calls it first:
// it must not mount the writable layer while a view still holds a mount
// of it.
func (d *Daemon) waitFSFree(c *ctr.Container) {
	l := d.liveState(c)
	for l.fsBusy || l.fsShared > 0 {
		l.waitFS(c)
	}
}

func (l *live) waitFS(c *ctr.Container) {
	if l.fsFree == nil {
		l.fsFree = sync.NewCond(c)
	}
	l.fsFree.Wait()
}

// liveState returns (creating) the live record of c.
func (d *Daemon) liveState(c *ctr.Container) *live {
	d.liveMu.Lock()
	defer d.liveMu.Unlock()
	if d.lives == nil {
		d.lives = map[string]*live{}
	}
	l := d.lives[c.ID]
	if l == nil {
		l = &live{}
		d.lives[c.ID] = l
	}
	return l
}

func (d *Daemon) dropLive(id string) {
	d.liveMu.Lock()
	defer d.liveMu.Unlock()
	delete(d.lives, id)
}

// shimDir is where a container's shim keeps its socket, config and exit
// status: under the exec-root, which is tmpfs on most hosts and so is
// empty after a reboot, when no shim can be alive. The name is a prefix of
// the ID because a unix socket path must fit in 108 bytes; 20 hex digits
// (80 bits) cannot collide among one host's containers.
func (d *Daemon) shimDir(id string) string {
	return filepath.Join(d.cfg.ExecRoot, "s", id[:20])
}

// shimFor returns a client for c's shim.
func (d *Daemon) shimFor(c *ctr.Container) shimClient {
	l := d.liveState(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shim == nil {
		l.shim = d.containerRuntime().dial(d.shimDir(c.ID))
	}
	return l.shim
}
