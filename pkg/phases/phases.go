package phases

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Trace is the phases of one operation, in the order they ended.
type Trace struct {
	mu    sync.Mutex
	start time.Time
	last  time.Time
	marks []mark
}

type mark struct {
	name string
	took time.Duration
}

// New starts a trace now.
func New() *Trace {
	now := time.Now()
	return &Trace{start: now, last: now}
}

// Mark ends the phase called name: it took the time since the previous
// mark (or the start).
func (t *Trace) Mark(name string) {
	if t == nil {
		return
	}
	now := time.Now()
	t.mu.Lock()
	t.marks = append(t.marks, mark{name, now.Sub(t.last)})
	t.last = now
	t.mu.Unlock()
}

// Since records a phase that ran beside the others (on another
// goroutine), from its own start until now; it does not move the
// sequence's last mark.
func (t *Trace) Since(name string, start time.Time) {
	if t == nil {
		return
	}
	took := time.Since(start)
	t.mu.Lock()
	t.marks = append(t.marks, mark{"(" + name + ")", took})
	t.mu.Unlock()
}

// Total is the time since the trace started.
func (t *Trace) Total() time.Duration {
	if t == nil {
		return 0
	}
	return time.Since(t.start)
}

// String is "total=12.3ms mount=1.2ms spec=0.4ms ...": the phases in the
// order they ended, in milliseconds; a phase that ran beside the others
// is in parentheses.
func (t *Trace) String() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "total=%s", ms(time.Since(t.start)))
	for _, m := range t.marks {
		fmt.Fprintf(&b, " %s=%s", m.name, ms(m.took))
	}
	return b.String()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
}

type ctxKey struct{}

// With returns ctx carrying t.
func With(ctx context.Context, t *Trace) context.Context {
	if t == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, t)
}

// From is the trace ctx carries, or nil.
func From(ctx context.Context) *Trace {
	t, _ := ctx.Value(ctxKey{}).(*Trace)
	return t
}
