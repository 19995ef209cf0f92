package daemon

import (
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/errdefs"
)

// killContainer delivers sig to c's process through the runtime.
func (d *Daemon) killContainer(c *ctr.Container, sig unix.Signal) error {
	c.Lock()
	running := c.State.Running
	c.Unlock()
	if !running {
		return errdefs.Conflictf("Container %s is not running", c.ID)
	}
	return errdefs.NotImplemented(errNoRuntime)
}
