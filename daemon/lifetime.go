package daemon

import (
	"context"
	"sync"
	"time"
)

// lifetime owns the work the daemon does in the background, for no request
// or for longer than one: exit watchers, restart policies, health checks,
// log forwarders, restore. Every such goroutine runs through Go, so that a
// shutdown can end them and know when they have ended.
//
// Shutdown has two steps, because stopping the containers needs the exit
// watchers that the end of the lifetime stops: closing ends first (no
// container starts again, a restart back-off ends at once), then ctx, when
// the containers have been stopped or (live-restore) are left running.
//
// The zero value is ready to use, so that a Daemon built by a test without
// New has one.
type lifetime struct {
	once sync.Once
	// ctx ends when the daemon has shut down.
	ctx context.Context
	end context.CancelFunc
	// closing ends when shutdown begins. It is a child of ctx.
	closing      context.Context
	beginClosing context.CancelFunc

	// mu orders Go's wg.Add before finish's wg.Wait: a goroutine started
	// once the wait has begun is not waited for.
	mu    sync.Mutex
	ended bool
	wg    sync.WaitGroup
}

func (l *lifetime) init() {
	l.once.Do(func() {
		l.ctx, l.end = context.WithCancel(context.Background())
		l.closing, l.beginClosing = context.WithCancel(l.ctx)
	})
}

// Context ends when the daemon has shut down. Work that must outlive the
// request that started it derives its context from this one (with
// context.WithoutCancel where it must finish even at shutdown).
func (l *lifetime) Context() context.Context {
	l.init()
	return l.ctx
}

// Closing is closed once the daemon has begun to shut down.
func (l *lifetime) Closing() <-chan struct{} {
	l.init()
	return l.closing.Done()
}

// isClosing says whether the daemon has begun to shut down.
func (l *lifetime) isClosing() bool {
	l.init()
	return l.closing.Err() != nil
}

// Go runs f in a goroutine that shutdown waits for; f's context is
// Context, and f must return soon after it ends.
func (l *lifetime) Go(f func(ctx context.Context)) {
	l.init()
	l.mu.Lock()
	tracked := !l.ended
	if tracked {
		l.wg.Add(1)
	}
	l.mu.Unlock()
	go func() {
		if tracked {
			defer l.wg.Done()
		}
		f(l.ctx)
	}()
}

// beginShutdown ends Closing: back-offs end and nothing starts again.
func (l *lifetime) beginShutdown() {
	l.init()
	l.beginClosing()
}

// finish ends Context and waits up to timeout for the background work.
// It says whether all of it ended in time.
func (l *lifetime) finish(timeout time.Duration) bool {
	l.init()
	l.beginClosing()
	l.end()
	l.mu.Lock()
	l.ended = true
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// teardown is the context of work that undoes what a container held
// (its network, its volume mounts): once begun it finishes, even while the
// daemon shuts down, or the next daemon would find the leftovers.
func (l *lifetime) teardown() context.Context {
	return context.WithoutCancel(l.Context())
}
