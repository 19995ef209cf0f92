package daemon

import (
	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/daemon/backend"
	daemonevents "github.com/berthd/berth/daemon/events"
)

// SubscribeToEvents returns past events in the filter's window and a live
// channel; cancel ends the subscription.
func (d *Daemon) SubscribeToEvents(f backend.EventFilter) ([]events.Message, <-chan events.Message, func()) {
	return d.events.Subscribe(daemonevents.Filter(f).Match)
}
