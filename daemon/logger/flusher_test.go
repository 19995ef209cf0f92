package logger

import (
	"testing"
	"time"
)

// TestFlusher: Wake flushes at once, long before the interval; Close
// runs one last flush, marked last, and Closed reports it.
func TestFlusher(t *testing.T) {
	calls := make(chan bool, 4)
	f := StartFlusher(time.Hour, func(last bool) { calls <- last })
	f.Wake()
	select {
	case last := <-calls:
		if last {
			t.Fatal("a woken flush is marked last")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wake did not flush")
	}
	if f.Closed() {
		t.Fatal("closed before Close")
	}
	f.Close()
	if last := <-calls; !last || !f.Closed() {
		t.Fatalf("Close's flush: last %v, closed %v", last, f.Closed())
	}
}
