package awslogs

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/daemon/logger"
)

// Driver is the awslogs driver's entry in the daemon's table.
var Driver = logger.Driver{Validate: Validate, New: New}

// CloudWatch Logs' limits on one PutLogEvents call.
const (
	perEventBytes  = 26
	maxBatchBytes  = 1_048_576
	maxBatchEvents = 10_000
	maxEventBytes  = 262_144 - perEventBytes
	callTimeout    = 30 * time.Second
)

// inputEvent is one event of PutLogEvents.
type inputEvent struct {
	Timestamp int64  `json:"timestamp"` // milliseconds
	Message   string `json:"message"`
}

type awslogs struct {
	cfg    *config
	client *client

	mu      sync.Mutex
	pending []inputEvent
	// multi is the event a multiline pattern is still adding lines to.
	multi    *inputEvent
	multiAt  time.Time // when multi last had a line
	flusher  *logger.Flusher
	closed   sync.Once
	closeErr error
}

// New creates the group and stream (as the options ask) before the
// container starts, so that missing credentials or a refused group fail
// the start, as with dockerd; then it starts the flusher.
func New(info logger.Info) (logger.Logger, error) {
	cfg, err := parseConfig(&info)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	creds, err := loadCredentials(ctx, cfg.credentialsEndpoint)
	if err != nil {
		return nil, err
	}
	a := &awslogs{cfg: cfg, client: &client{http: &http.Client{}, endpoint: cfg.endpoint, region: cfg.region, creds: creds, format: cfg.format}}
	if err := a.create(ctx); err != nil {
		return nil, err
	}
	a.flusher = logger.StartFlusher(cfg.flushInterval, a.flush)
	return a, nil
}

// create makes the log group (awslogs-create-group) and the stream
// (unless awslogs-create-stream=false); either existing already is fine.
func (a *awslogs) create(ctx context.Context) error {
	if a.cfg.createGroup {
		err := a.client.call(ctx, "CreateLogGroup", map[string]string{"logGroupName": a.cfg.group}, nil)
		if err != nil && !isType(err, "ResourceAlreadyExistsException") {
			return err
		}
	}
	if !a.cfg.createStream {
		return nil
	}
	err := a.client.call(ctx, "CreateLogStream", map[string]string{"logGroupName": a.cfg.group, "logStreamName": a.cfg.stream}, nil)
	if err != nil && !isType(err, "ResourceAlreadyExistsException") {
		return err
	}
	return nil
}

// Log queues a line as an event, or adds it to the multiline event it
// continues. Empty lines are skipped, as dockerd does; a full queue
// (awslogs-max-buffered-events) refuses the line.
func (a *awslogs) Log(m *logger.Message) error {
	if len(m.Line) == 0 {
		return nil
	}
	ms := m.Time.UnixMilli()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.flusher.Closed() {
		return errors.New("awslogs is closed")
	}
	if len(a.pending) >= a.cfg.maxBufferedEvents {
		return errors.New("awslogs: too many events buffered")
	}
	if re := a.cfg.multiline; re != nil {
		// A line matching the pattern starts an event; others continue
		// it. Each line keeps its newline, as in dockerd's events.
		if re.Match(m.Line) || a.multi == nil {
			a.flushMultiLocked()
			a.multi = &inputEvent{Timestamp: ms}
		}
		a.multi.Message += string(m.Line) + "\n"
		a.multiAt = time.Now()
		return nil
	}
	for line := string(m.Line); line != ""; {
		n := min(len(line), maxEventBytes)
		a.pending = append(a.pending, inputEvent{Timestamp: ms, Message: line[:n]})
		line = line[n:]
	}
	if len(a.pending) >= maxBatchEvents {
		a.flusher.Wake()
	}
	return nil
}

func (a *awslogs) flushMultiLocked() {
	if a.multi != nil {
		a.pending = append(a.pending, *a.multi)
		a.multi = nil
	}
}

// flush sends the queue: every awslogs-force-flush-interval-seconds,
// when a batch is full, and at Close.
func (a *awslogs) flush(last bool) {
	a.mu.Lock()
	if last || time.Since(a.multiAt) >= a.cfg.flushInterval {
		// A multiline event is complete once a whole interval has
		// passed without another line, as dockerd flushes it.
		a.flushMultiLocked()
	}
	events := a.pending
	a.pending = nil
	a.mu.Unlock()
	if err := a.put(events); err != nil {
		logrus.WithError(err).WithField("events", len(events)).Error("awslogs: failed to put log events")
		if last {
			a.closeErr = err
		}
	}
}

// put sends events in as few PutLogEvents calls as the limits allow.
func (a *awslogs) put(events []inputEvent) error {
	// The service wants a batch in time order; stdout and stderr lines
	// may come a little out of it.
	sort.SliceStable(events, func(i, j int) bool { return events[i].Timestamp < events[j].Timestamp })
	for len(events) > 0 {
		n, size := 0, 0
		for n < len(events) && n < maxBatchEvents && size+len(events[n].Message)+perEventBytes <= maxBatchBytes {
			size += len(events[n].Message) + perEventBytes
			n++
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		err := a.client.call(ctx, "PutLogEvents", map[string]any{
			"logGroupName": a.cfg.group, "logStreamName": a.cfg.stream, "logEvents": events[:n],
		}, nil)
		cancel()
		if err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

// Close sends what is queued and stops the flusher.
func (a *awslogs) Close() error {
	a.closed.Do(a.flusher.Close)
	return a.closeErr
}
