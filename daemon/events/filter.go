package events

import (
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/pkg/filters"
)

// Filter is a subscription's selection: a time window and dockerd's filters.
type Filter struct {
	Since, Until time.Time
	Args         filters.Args
}

// Match reports whether m passes the filter.
func (f Filter) Match(m events.Message) bool {
	t := time.Unix(0, m.TimeNano)
	if m.TimeNano == 0 {
		t = time.Unix(m.Time, 0)
	}
	if !f.Since.IsZero() && t.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && t.After(f.Until) {
		return false
	}
	a := f.Args
	return matchAction(a, m) &&
		a.ExactMatch("type", string(m.Type)) &&
		matchName(a, m, events.DaemonEventType) &&
		matchName(a, m, events.ContainerEventType) &&
		matchName(a, m, events.PluginEventType) &&
		matchID(a, m, events.VolumeEventType) &&
		matchName(a, m, events.NetworkEventType) &&
		matchImage(a, m) &&
		matchName(a, m, events.NodeEventType) &&
		matchName(a, m, events.ServiceEventType) &&
		matchName(a, m, events.SecretEventType) &&
		matchName(a, m, events.ConfigEventType) &&
		a.MatchKVList("label", m.Actor.Attributes) &&
		a.ExactMatch("scope", m.Scope)
}

// matchAction compares the "event" filter with the action, ignoring the
// detail dockerd appends after a colon ("exec_start: sh -c …",
// "health_status: healthy") unless the filter names it in full.
func matchAction(a filters.Args, m events.Message) bool {
	if !a.Contains("event") {
		return true
	}
	action := string(m.Action)
	if a.ExactMatch("event", action) {
		return true
	}
	if base, _, ok := strings.Cut(action, ":"); ok {
		return a.ExactMatch("event", base)
	}
	return false
}

// matchName applies the filter named after typ (container=, network=, …) to
// events of that type by ID prefix or name. A filter on one type excludes
// events of other types, as in dockerd.
func matchName(a filters.Args, m events.Message, typ events.Type) bool {
	key := string(typ)
	if !a.Contains(key) {
		return true
	}
	if m.Type != typ {
		return false
	}
	return a.FuzzyMatch(key, m.Actor.ID) || a.ExactMatch(key, m.Actor.Attributes["name"])
}

func matchID(a filters.Args, m events.Message, typ events.Type) bool {
	key := string(typ)
	if !a.Contains(key) {
		return true
	}
	return m.Type == typ && a.ExactMatch(key, m.Actor.ID)
}

// matchImage takes container events by their image and image events by
// their reference or ID. References are compared with and without the tag
// and the docker.io/library/ prefix so that "busybox" matches
// "busybox:latest" and "docker.io/library/busybox".
func matchImage(a filters.Args, m events.Message) bool {
	if !a.Contains("image") {
		return true
	}
	var candidates []string
	switch m.Type {
	case events.ImageEventType:
		candidates = []string{m.Actor.ID, m.Actor.Attributes["name"]}
	case events.ContainerEventType:
		candidates = []string{m.Actor.Attributes["image"]}
	default:
		return false
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		for _, v := range a.Get("image") {
			if imageRefMatches(v, c) {
				return true
			}
		}
	}
	return false
}

func imageRefMatches(filter, ref string) bool {
	norm := func(s string) string {
		s = strings.TrimPrefix(s, "docker.io/")
		s = strings.TrimPrefix(s, "library/")
		return s
	}
	f, r := norm(filter), norm(ref)
	if f == r || strings.TrimPrefix(f, "sha256:") == strings.TrimPrefix(r, "sha256:") {
		return true
	}
	stripTag := func(s string) string {
		if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
			return s[:i]
		}
		return s
	}
	if !strings.Contains(f[strings.LastIndex(f, "/")+1:], ":") {
		return f == stripTag(r)
	}
	return false
}
