package daemon

import (
	"path/filepath"
	"sync"
	"time"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/shim"
)

// live is what the daemon keeps in memory about a container whose process
// exists (or is about to): its shim, the attaches waiting for it to start,
// its execs. Nothing here is persisted; after a restart it is rebuilt from
// the shims' sockets.
type live struct {
	mu       sync.Mutex
	shim     *shim.Client
	pending  []*pendingAttach
	stopping bool // a stop or kill by the user: no restart policy
	// backoff is the delay before the next policy restart.
	backoff time.Duration
	// healthCancel stops the healthcheck loop.
	healthCancel func()
	// fsReaders are the reads of the container's files that run without
	// its lock (commit, export): a removal waits for them before it
	// deletes the files. They join only under the lock and while no
	// removal is in progress.
	fsReaders sync.WaitGroup
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
func (d *Daemon) shimFor(c *ctr.Container) *shim.Client {
	l := d.liveState(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shim == nil {
		l.shim = shim.Dial(d.shimDir(c.ID))
	}
	return l.shim
}
