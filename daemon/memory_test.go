package daemon

import (
	"context"
	"testing"
	"time"
)

func TestTrimAfterStartWaitsForTheRestore(t *testing.T) {
	calls := make(chan struct{}, 2)
	oldTrim, oldDelay := trimBinary, startTrimDelay
	trimBinary, startTrimDelay = func() { calls <- struct{}{} }, time.Millisecond
	t.Cleanup(func() { trimBinary, startTrimDelay = oldTrim, oldDelay })

	d := &Daemon{}
	done := make(chan struct{})
	go func() { d.trimAfterStart(context.Background()); close(done) }()
	select {
	case <-calls:
		t.Fatal("trimmed before the containers were restored")
	case <-time.After(50 * time.Millisecond):
	}
	close(d.restoreDone())
	<-done
	if len(calls) != 1 {
		t.Fatalf("%d trims after the restore, want 1", len(calls))
	}

	// A daemon shutting down does not trim.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	(&Daemon{}).trimAfterStart(ctx)
	if len(calls) != 1 {
		t.Fatal("trimmed during shutdown")
	}
}
