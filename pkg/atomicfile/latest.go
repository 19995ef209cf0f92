package atomicfile

import "sync"

// Latest keeps one file up to date with state that changes under its
// owner's lock, without paying the file's fsync under that lock.
//
// The owner bumps a generation with each change (under its lock) and,
// after releasing the lock, calls Sync: Sync returns once a snapshot at
// least as new as the generation the change made is on disk. Callers that
// arrive while a write is under way wait for it, and the next write
// carries all of their changes at once (a group commit), so a burst of N
// changes costs far fewer than N fsyncs, and no caller of the owner's lock
// waits for a disk.
type Latest struct {
	mu      sync.Mutex // held through each write, so writes never reorder
	written uint64     // the generation last put on disk
}

// Sync puts generation gen (or a newer one) on disk. flush takes a
// snapshot of the state (under the owner's lock, briefly), writes it
// (outside that lock), and returns the snapshot's generation. An error
// leaves the file's generation where it was: the next Sync tries again.
func (l *Latest) Sync(gen uint64, flush func() (uint64, error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.written >= gen {
		return nil // a write since the change carried it
	}
	w, err := flush()
	if err != nil {
		return err
	}
	if w > l.written {
		l.written = w
	}
	return nil
}
