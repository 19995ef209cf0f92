package distribution

import (
	"sync"

	"github.com/moby/moby/api/types/jsonstream"
)

// Stream hands progress messages to a writer from its own goroutine, so
// that a slow or stalled client never blocks a transfer (which other
// pulls may share) nor the locks a transfer takes. While the writer lags,
// consecutive progress updates of one layer collapse into the latest, so
// the queue stays short.
type Stream struct {
	write func(jsonstream.Message) error

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []jsonstream.Message
	closed bool
	failed bool
	done   chan struct{}
}

// NewStream starts the writer goroutine.
func NewStream(write func(jsonstream.Message) error) *Stream {
	s := &Stream{write: write, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	go s.run()
	return s
}

// Output is the sink to give Pull and Push.
func (s *Stream) Output() Output { return s.put }

func (s *Stream) put(m jsonstream.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.failed {
		return
	}
	if n := len(s.queue); n > 0 && m.Progress != nil && m.ID != "" {
		if last := &s.queue[n-1]; last.ID == m.ID && last.Status == m.Status && last.Progress != nil {
			*last = m
			return
		}
	}
	s.queue = append(s.queue, m)
	s.cond.Signal()
}

func (s *Stream) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.cond.Wait()
		}
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, m := range batch {
			if err := s.write(m); err != nil {
				s.mu.Lock()
				s.failed = true
				s.queue = nil
				s.mu.Unlock()
				break
			}
		}
	}
}

// Close writes what is queued and stops; later messages are dropped.
func (s *Stream) Close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Signal()
	s.mu.Unlock()
	<-s.done
}
