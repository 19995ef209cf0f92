package container

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/api/server/httputils"
)

func TestSummariesForVersion(t *testing.T) {
	mk := func() []*container.Summary {
		s := &container.Summary{ID: "a", Health: &container.HealthSummary{Status: container.Healthy}}
		s.HostConfig.Annotations = map[string]string{"k": "v"}
		return []*container.Summary{s, nil}
	}
	for v, want := range map[string][2]bool{"1.45": {false, false}, "1.46": {true, false}, "1.51": {true, false}, "1.52": {true, true}} {
		l := mk()
		summariesForVersion(httputils.WithVersion(context.Background(), v), l)
		if got := [2]bool{l[0].HostConfig.Annotations != nil, l[0].Health != nil}; got != want {
			t.Errorf("%s: annotations, health %v, want %v", v, got, want)
		}
	}
}
