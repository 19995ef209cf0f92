package daemon

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	ctr "github.com/berthd/berth/container"
)

// volumeMounts returns the mounts of c's volumes and binds.
func (d *Daemon) volumeMounts(c *ctr.Container) ([]specs.Mount, error) {
	return nil, nil
}
