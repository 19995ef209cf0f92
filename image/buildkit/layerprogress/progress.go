package layerprogress

import (
	"context"
	"strings"
	"time"

	"github.com/moby/buildkit/util/progress"
)

// Step is one step of a pull or push for one layer, as `docker pull` and
// `docker push` print it: ID is the layer's short digest, Action
// "Downloading", "Extracting", "Pull complete", "Pushing", "Pushed", …
type Step struct {
	ID, Action     string
	Current, Total int64
}

// finished reports whether action is a layer's last step.
func finished(action string) bool {
	switch action {
	case "Pull complete", "Already exists", "Pushed", "Layer already exists":
		return true
	}
	return strings.HasPrefix(action, "Mounted from")
}

// Start writes steps into the progress of the build step ctx belongs to,
// each layer on a line named prefix + its ID; stop ends the stream.
func Start(ctx context.Context, prefix string) (report func(Step), stop func()) {
	pw, _, _ := progress.NewFromContext(ctx)
	started := map[string]*time.Time{}
	report = func(s Step) {
		now := time.Now()
		st := started[s.ID]
		if st == nil {
			st = &now
			started[s.ID] = st
		}
		status := progress.Status{Action: strings.ToLower(s.Action), Current: int(s.Current), Total: int(s.Total), Started: st}
		if finished(s.Action) {
			status.Completed = &now
		}
		pw.Write(prefix+s.ID, status)
	}
	return report, func() { pw.Close() }
}
