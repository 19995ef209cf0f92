package atomicfile

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLatestGroupsConcurrentChanges: every caller's change is on disk when
// its Sync returns, and callers that wait behind a write share the next.
func TestLatestGroupsConcurrentChanges(t *testing.T) {
	var (
		owner   sync.Mutex
		gen     uint64
		onDisk  atomic.Uint64
		writes  int
		l       Latest
		callers = 50
	)
	flush := func() (uint64, error) {
		owner.Lock()
		snap := gen
		owner.Unlock()
		time.Sleep(2 * time.Millisecond) // the fsync
		onDisk.Store(snap)
		writes++
		return snap, nil
	}
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			owner.Lock()
			gen++
			mine := gen
			owner.Unlock()
			if err := l.Sync(mine, flush); err != nil {
				t.Error(err)
			}
			if got := onDisk.Load(); got < mine {
				t.Errorf("Sync(%d) returned with generation %d on disk", mine, got)
			}
		})
	}
	wg.Wait()
	if got := onDisk.Load(); got != uint64(callers) {
		t.Fatalf("generation %d on disk, want %d", got, callers)
	}
	if writes >= callers {
		t.Errorf("%d writes for %d concurrent changes: none were grouped", writes, callers)
	}
}

// TestLatestRetriesAfterAnError: a failed write is not counted, so the
// change is written by the next Sync.
func TestLatestRetriesAfterAnError(t *testing.T) {
	var l Latest
	fail := errors.New("no space left on device")
	if err := l.Sync(1, func() (uint64, error) { return 0, fail }); !errors.Is(err, fail) {
		t.Fatalf("Sync = %v, want the write's error", err)
	}
	wrote := false
	if err := l.Sync(1, func() (uint64, error) { wrote = true; return 1, nil }); err != nil || !wrote {
		t.Fatalf("the change was not written again (err %v)", err)
	}
	if err := l.Sync(1, func() (uint64, error) { t.Fatal("written twice"); return 0, nil }); err != nil {
		t.Fatal(err)
	}
}
