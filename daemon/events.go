package daemon

import (
	"github.com/moby/moby/api/types/events"

	daemonevents "github.com/berthd/berth/daemon/events"
)

// SubscribeToEvents returns past events in the filter's window and a live
// channel; cancel ends the subscription.
func (d *Daemon) SubscribeToEvents(f daemonevents.Filter) ([]events.Message, <-chan events.Message, func()) {
	return d.events.Subscribe(f.Match)
}
