package backend

import (
	"time"

	"github.com/berthd/berth/pkg/filters"
)

// EventFilter is GET /events' selection: a time window and dockerd's
// filters, already validated by the router.
type EventFilter struct {
	Since, Until time.Time
	Args         filters.Args
}
