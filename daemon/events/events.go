package events

import (
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

// historySize is how many past events a subscriber asking for `since` can
// see; dockerd keeps 256.
const historySize = 1024

// subscriberBuffer is how far a slow subscriber may fall behind before it is
// dropped. Dropping, not blocking, keeps a stalled client from stalling the
// managers that log events.
const subscriberBuffer = 1024

// Bus records and fans out events.
type Bus struct {
	mu      sync.Mutex
	history []events.Message // ring, oldest at start
	next    int
	full    bool
	subs    map[*subscriber]struct{}
	closed  bool
	now     func() time.Time
	// published counts every event since the bus was made, for
	// engine_daemon_events_total.
	published uint64
}

type subscriber struct {
	ch     chan events.Message
	filter func(events.Message) bool
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{
		history: make([]events.Message, historySize),
		subs:    map[*subscriber]struct{}{},
		now:     time.Now,
	}
}

// Log records an event of typ with action about actor, stamped now.
func (b *Bus) Log(typ events.Type, action events.Action, actor events.Actor) {
	t := b.now()
	if actor.Attributes == nil {
		actor.Attributes = map[string]string{}
	}
	b.Publish(events.Message{
		Type:     typ,
		Action:   action,
		Actor:    actor,
		Scope:    "local",
		Time:     t.Unix(),
		TimeNano: t.UnixNano(),
	})
}

// Publish records m and delivers it to every subscriber whose filter takes it.
func (b *Bus) Publish(m events.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.published++
	b.history[b.next] = m
	b.next = (b.next + 1) % len(b.history)
	if b.next == 0 {
		b.full = true
	}
	for s := range b.subs {
		if s.filter != nil && !s.filter(m) {
			continue
		}
		select {
		case s.ch <- m:
		default:
			delete(b.subs, s)
			close(s.ch)
		}
	}
}

// past returns the recorded events in order. Caller holds mu.
func (b *Bus) past() []events.Message {
	if !b.full {
		return append([]events.Message(nil), b.history[:b.next]...)
	}
	out := make([]events.Message, 0, len(b.history))
	out = append(out, b.history[b.next:]...)
	return append(out, b.history[:b.next]...)
}

// Subscribe returns the recorded events that filter takes and a channel of
// the live ones, atomically, so that no event is missed or seen twice. The
// channel is closed by cancel, by Close, or when the subscriber falls too
// far behind.
func (b *Bus) Subscribe(filter func(events.Message) bool) (past []events.Message, live <-chan events.Message, cancel func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.past() {
		if filter == nil || filter(m) {
			past = append(past, m)
		}
	}
	s := &subscriber{ch: make(chan events.Message, subscriberBuffer), filter: filter}
	if b.closed {
		close(s.ch)
		return past, s.ch, func() {}
	}
	b.subs[s] = struct{}{}
	return past, s.ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[s]; ok {
			delete(b.subs, s)
			close(s.ch)
		}
	}
}

// SubscriberCount is the number of live subscribers (NEventsListener in info).
func (b *Bus) SubscriberCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Published is how many events the bus has recorded since it was made.
func (b *Bus) Published() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.published
}

// Close ends every subscription; later events are dropped. Called at
// shutdown so that streaming /events requests finish.
func (b *Bus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		close(s.ch)
		delete(b.subs, s)
	}
}
