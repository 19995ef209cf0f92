package daemon

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/shim"
)

// startTrimDelay is how long after the restore the daemon drops the pages
// of its binary that start-up touched: late enough that the first burst
// of requests (a service manager's health checks, a compose project
// coming back) has run.
var startTrimDelay = 5 * time.Second

// trimBinary drops the pages; tests count the calls instead.
var trimBinary = shim.TrimBinary

// trimAfterStart drops from the daemon's page tables the parts of its
// binary mapped while starting. Most of a large binary (BuildKit's
// packages included) is touched once, by package initialisers, and the
// kernel maps the 64 KiB around every fault: the daemon's idle Rss was
// mostly the binary (53 MiB, of which 8 MiB heap). The pages stay in the
// page cache; those used again come back as minor faults.
func (d *Daemon) trimAfterStart(ctx context.Context) {
	select {
	case <-d.restoreDone():
	case <-ctx.Done():
		return
	}
	select {
	case <-time.After(startTrimDelay):
	case <-ctx.Done():
		return
	}
	trimBinary()
	logrus.Debug("dropped the start-up pages of the binary")
}
