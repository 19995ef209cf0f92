package distribution

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
)

// TestMaxDownloadAttempts: a registry that always answers 503 is asked
// exactly as many times as max-download-attempts says, 5 by default.
func TestMaxDownloadAttempts(t *testing.T) {
	for _, tc := range []struct{ attempts, want int }{{0, defaultAttempts}, {1, 1}, {2, 2}} {
		var gets atomic.Int32
		r := testRepo(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			gets.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		r.attempts = tc.attempts
		resp, err := r.do(context.Background(), request{method: http.MethodGet, url: r.url("/blobs/sha256:00"), retry: true})
		if err == nil {
			resp.Body.Close()
		}
		if int(gets.Load()) != tc.want {
			t.Errorf("attempts %d: %d requests, want %d", tc.attempts, gets.Load(), tc.want)
		}
	}
}
