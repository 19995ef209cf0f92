package daemon

import (
	"path/filepath"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/container"
)

// initContainers loads every container recorded under the data-root. It
// only reads small JSON files, so start-up stays fast with many containers;
// reattaching to running ones (live-restore) is done by the runtime code
// after the API is up.
func (d *Daemon) initContainers() error {
	d.containers = container.NewStore(filepath.Join(d.cfg.DataRoot, "containers"))
	loaded, err := d.containers.LoadAll()
	if err != nil {
		return err
	}
	if len(loaded) > 0 {
		logrus.WithField("count", len(loaded)).Info("loaded containers")
	}
	return nil
}
