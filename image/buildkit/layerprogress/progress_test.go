package layerprogress

import (
	"context"
	"testing"

	"github.com/moby/buildkit/util/progress"
)

// Steps reach the build's progress stream, and a layer's last step
// completes its line.
func TestStepsReachTheBuildProgress(t *testing.T) {
	pr, ctx, cancel := progress.NewContext(context.Background())
	defer cancel(nil)
	report, stop := Start(ctx, "pulling ")
	report(Step{ID: "abc", Action: "Downloading", Current: 1, Total: 2})
	report(Step{ID: "abc", Action: "Pull complete"})
	stop()
	cancel(nil)
	var got []*progress.Progress
	for {
		ps, err := pr.Read(context.Background())
		got = append(got, ps...)
		if err != nil {
			break
		}
	}
	var last progress.Status
	n := 0
	for _, p := range got {
		if s, ok := p.Sys.(progress.Status); ok && p.ID == "pulling abc" {
			last, n = s, n+1
		}
	}
	if n == 0 || last.Action != "pull complete" || last.Completed == nil || last.Started == nil {
		t.Fatalf("%d lines, last %+v", n, last)
	}
}
