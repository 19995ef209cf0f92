package logger

import "time"

// Flusher runs a batching driver's flush (splunk, awslogs): every
// interval, when Wake says a batch is full, and a last time at Close.
type Flusher struct {
	wake    chan struct{}
	closing chan struct{}
	done    chan struct{}
}

// StartFlusher starts calling flush; last is true for the call at Close,
// the final one.
func StartFlusher(interval time.Duration, flush func(last bool)) *Flusher {
	f := &Flusher{wake: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-f.wake:
			case <-f.closing:
				flush(true)
				return
			}
			flush(false)
		}
	}()
	return f
}

// Wake asks for a flush now.
func (f *Flusher) Wake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Closed tells whether Close has begun: a driver refuses messages then,
// since the last flush may have taken its queue already.
func (f *Flusher) Closed() bool {
	select {
	case <-f.closing:
		return true
	default:
		return false
	}
}

// Close runs the last flush and waits for it. The caller makes sure it
// is called once.
func (f *Flusher) Close() {
	close(f.closing)
	<-f.done
}
