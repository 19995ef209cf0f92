package daemon

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/logger"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/jsonlog"
	"github.com/berthd/berth/pkg/stringid"
)

// driverSink hands entries to a built-in driver.
type driverSink struct {
	id string
	l  logger.Logger
	m  logger.Message
	// failing counts the entries lost since the last warning, so that a
	// receiver that is away costs one warning a minute, not one a line.
	failing  int
	warnedAt time.Time
	closed   sync.Once
	partials partialLines
}

// partialLines numbers the pieces of the lines the shim split, per
// stream, the way dockerd's copier does: the pieces of one line share a
// random ID and count from 1; the piece that ends with the newline is
// the last.
type partialLines map[string]*logger.Partial

// next is the metadata of the stream's next entry; whole tells whether
// the entry ends with a newline.
func (p *partialLines) next(stream string, whole bool) *logger.Partial {
	if *p == nil {
		*p = partialLines{}
	}
	open := (*p)[stream]
	if whole {
		if open == nil {
			return nil
		}
		delete(*p, stream)
		return &logger.Partial{ID: open.ID, Ordinal: open.Ordinal + 1, Last: true}
	}
	if open == nil {
		open = &logger.Partial{ID: stringid.GenerateRandomID()}
		(*p)[stream] = open
	}
	open.Ordinal++
	return &logger.Partial{ID: open.ID, Ordinal: open.Ordinal}
}

// openDriverSink starts c's driver: it connects to the receiver, and a
// receiver that cannot be reached fails the start, as with dockerd (an
// unclassified error there: a 500).
func openDriverSink(c *ctr.Container, drv logger.Driver) (logSink, error) {
	l, err := drv.New(containerLogInfo(c))
	if err != nil {
		return nil, errdefs.System(fmt.Errorf("failed to initialize logging driver: %w", err))
	}
	return &driverSink{id: c.ID, l: l}, nil
}

// send logs one entry. An entry the receiver does not take is dropped
// with a warning — the forwarding goes on, since the container's output
// is kept in the cache either way.
func (s *driverSink) send(e *jsonlog.Entry) error {
	s.m.Line = bytes.TrimSuffix(e.Log, []byte("\n"))
	s.m.Source = e.Stream
	s.m.Time = e.Time
	s.m.Partial = s.partials.next(e.Stream, len(s.m.Line) < len(e.Log))
	if err := s.l.Log(&s.m); err != nil {
		s.failing++
		if time.Since(s.warnedAt) >= time.Minute {
			logrus.WithError(err).WithField("container", stringid.TruncateID(s.id)).WithField("lost", s.failing).Warn("the log driver lost entries")
			s.failing, s.warnedAt = 0, time.Now()
		}
	}
	return nil
}

func (s *driverSink) close(context.Context) {
	s.closed.Do(func() {
		if err := s.l.Close(); err != nil {
			logrus.WithError(err).WithField("container", stringid.TruncateID(s.id)).Warn("closing the log driver")
		}
	})
}

// abort closes the driver from outside the forwarder, ending a send that
// waits for the receiver.
func (s *driverSink) abort() { s.close(context.Background()) }
