package imagesource

import (
	"context"
	"strings"
	"time"

	"github.com/moby/buildkit/util/progress"
)

// pullProgress shows a pull's per-layer steps in the build's progress, as
// BuildKit's own puller shows its downloads; close ends the stream.
func pullProgress(ctx context.Context) (report func(PullProgress), close func()) {
	pw, _, _ := progress.NewFromContext(ctx)
	started := map[string]*time.Time{}
	report = func(p PullProgress) {
		now := time.Now()
		st := started[p.ID]
		if st == nil {
			st = &now
			started[p.ID] = st
		}
		s := progress.Status{Action: strings.ToLower(p.Action), Current: int(p.Current), Total: int(p.Total), Started: st}
		if p.Action == "Pull complete" || p.Action == "Already exists" {
			s.Completed = &now
		}
		pw.Write("pulling "+p.ID, s)
	}
	return report, func() { pw.Close() }
}
