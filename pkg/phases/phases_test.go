package phases

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestNilTraceIsANoOp(t *testing.T) {
	var tr *Trace
	tr.Mark("x")
	tr.Since("y", time.Now())
	if tr.String() != "" || tr.Total() != 0 {
		t.Fatal("nil trace recorded something")
	}
	if From(With(context.Background(), nil)) != nil {
		t.Fatal("a nil trace came back from the context")
	}
}

func TestMarksInOrder(t *testing.T) {
	tr := New()
	time.Sleep(2 * time.Millisecond)
	tr.Mark("first")
	tr.Since("aside", time.Now().Add(-time.Millisecond))
	tr.Mark("second")
	s := From(With(context.Background(), tr)).String()
	if !strings.HasPrefix(s, "total=") {
		t.Fatalf("%q", s)
	}
	i, j, k := strings.Index(s, " first="), strings.Index(s, " (aside)="), strings.Index(s, " second=")
	if i < 0 || j < i || k < j {
		t.Fatalf("phases out of order: %q", s)
	}
	if tr.marks[0].took < 2*time.Millisecond {
		t.Fatalf("first took %v, slept 2ms", tr.marks[0].took)
	}
}
