package events

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/pkg/filters"
)

func TestSubscribeSeesPastAndLiveOnce(t *testing.T) {
	b := New()
	b.Log(events.ContainerEventType, events.ActionCreate, events.Actor{ID: "c1"})
	past, live, cancel := b.Subscribe(nil)
	defer cancel()
	b.Log(events.ContainerEventType, events.ActionStart, events.Actor{ID: "c1"})
	if len(past) != 1 || past[0].Action != events.ActionCreate {
		t.Fatalf("past = %+v", past)
	}
	select {
	case m := <-live:
		if m.Action != events.ActionStart || m.Scope != "local" || m.TimeNano == 0 {
			t.Fatalf("live = %+v", m)
		}
	case <-time.After(time.Second):
		t.Fatal("no live event")
	}
	if b.SubscriberCount() != 1 {
		t.Fatal("subscriber not counted")
	}
	cancel()
	if b.SubscriberCount() != 0 {
		t.Fatal("cancel did not unsubscribe")
	}
}

func TestHistoryRingKeepsNewest(t *testing.T) {
	b := New()
	for i := 0; i < historySize+10; i++ {
		b.Log(events.ImageEventType, events.ActionTag, events.Actor{ID: "x"})
	}
	past, _, cancel := b.Subscribe(nil)
	cancel()
	if len(past) != historySize {
		t.Fatalf("history %d, want %d", len(past), historySize)
	}
	// The count goes on past what the ring keeps.
	if n := b.Published(); n != historySize+10 {
		t.Fatalf("Published() = %d, want %d", n, historySize+10)
	}
	for i := 1; i < len(past); i++ {
		if past[i].TimeNano < past[i-1].TimeNano {
			t.Fatal("history out of order")
		}
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	b := New()
	_, live, _ := b.Subscribe(nil)
	b.Close()
	if _, ok := <-live; ok {
		t.Fatal("channel open after Close")
	}
	_, live, _ = b.Subscribe(nil)
	if _, ok := <-live; ok {
		t.Fatal("subscription after Close is open")
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	b := New()
	_, live, _ := b.Subscribe(nil)
	for i := 0; i < subscriberBuffer+1; i++ {
		b.Log(events.DaemonEventType, events.ActionReload, events.Actor{ID: "d"})
	}
	n := 0
	for range live {
		n++
	}
	if n != subscriberBuffer {
		t.Fatalf("received %d before drop, want %d", n, subscriberBuffer)
	}
}

func TestFilterMatch(t *testing.T) {
	now := time.Unix(1700000000, 0)
	ctr := events.Message{Type: events.ContainerEventType, Action: "exec_start: sh -c true", Scope: "local",
		Actor:    events.Actor{ID: "abcdef", Attributes: map[string]string{"name": "web", "image": "busybox:latest", "team": "a"}},
		TimeNano: now.UnixNano()}
	img := events.Message{Type: events.ImageEventType, Action: events.ActionTag, Scope: "local",
		Actor:    events.Actor{ID: "sha256:123", Attributes: map[string]string{"name": "docker.io/library/busybox:latest"}},
		TimeNano: now.UnixNano()}
	cases := []struct {
		f        Filter
		ctr, img bool
	}{
		{Filter{}, true, true},
		{Filter{Args: filters.NewArgs([2]string{"type", "container"})}, true, false},
		{Filter{Args: filters.NewArgs([2]string{"container", "abc"})}, true, false},
		{Filter{Args: filters.NewArgs([2]string{"container", "web"})}, true, false},
		{Filter{Args: filters.NewArgs([2]string{"container", "nope"})}, false, false},
		{Filter{Args: filters.NewArgs([2]string{"event", "exec_start"})}, true, false},
		{Filter{Args: filters.NewArgs([2]string{"event", "tag"})}, false, true},
		{Filter{Args: filters.NewArgs([2]string{"image", "busybox"})}, true, true},
		{Filter{Args: filters.NewArgs([2]string{"image", "alpine"})}, false, false},
		{Filter{Args: filters.NewArgs([2]string{"label", "team=a"})}, true, false},
		{Filter{Since: now.Add(time.Second)}, false, false},
		{Filter{Until: now.Add(-time.Second)}, false, false},
		{Filter{Since: now, Until: now}, true, true},
	}
	for i, c := range cases {
		if got := c.f.Match(ctr); got != c.ctr {
			t.Errorf("case %d: container match %v, want %v", i, got, c.ctr)
		}
		if got := c.f.Match(img); got != c.img {
			t.Errorf("case %d: image match %v, want %v", i, got, c.img)
		}
	}
}
