package shim

import (
	"encoding/json"
)

// eventSub is one "events" connection. inflight counts the events queued
// on ch and not yet written: a rebirth waits for none.
type eventSub struct {
	ch       chan Event
	conn     *unixConn
	inflight int
}

// publishLocked queues e on every events connection; s.mu is held.
func (s *server) publishLocked(e Event) {
	for sub := range s.evsubs {
		select {
		case sub.ch <- e:
			sub.inflight++
		default:
		}
	}
}

// subscribeEvents registers c for the events to come; nil once the
// container has exited.
func (s *server) subscribeEvents(c *unixConn) *eventSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exit != nil {
		return nil
	}
	sub := &eventSub{ch: make(chan Event, 64), conn: c}
	s.evsubs[sub] = struct{}{}
	return sub
}

// streamEvents writes sub's events to c (with the answer to the request
// first, when header is set) until the exit. A nil sub: the exit is past.
func (s *server) streamEvents(c *unixConn, sub *eventSub, header bool) {
	enc := json.NewEncoder(c)
	if sub == nil {
		s.mu.Lock()
		ex := s.exit
		s.mu.Unlock()
		if header {
			_ = enc.Encode(Response{})
		}
		_ = enc.Encode(Event{Type: "exit", Exit: ex})
		return
	}
	defer func() {
		s.mu.Lock()
		if _, ok := s.evsubs[sub]; ok {
			delete(s.evsubs, sub)
			close(sub.ch)
		}
		s.mu.Unlock()
	}()
	if header {
		if err := enc.Encode(Response{}); err != nil {
			return
		}
	}
	// Only now, with the answer written, can the next image take the
	// connection over.
	s.park(c, "events")
	s.scheduleIdle()
	for e := range sub.ch {
		err := enc.Encode(e)
		s.mu.Lock()
		sub.inflight--
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}
