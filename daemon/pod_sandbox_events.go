package daemon

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/daemon/backend"
)

// podEventTypes are the engine's container actions kubelet hears of.
var podEventTypes = map[events.Action]backend.PodEventType{
	events.ActionCreate:  backend.PodContainerCreated,
	events.ActionStart:   backend.PodContainerStarted,
	events.ActionDie:     backend.PodContainerStopped,
	events.ActionDestroy: backend.PodContainerDeleted,
}

// PodEvents streams the lifecycle events of pod containers and sandboxes
// from the event bus until ctx ends, each with its pod's status.
func (d *Daemon) PodEvents(ctx context.Context) <-chan backend.PodEvent {
	_, live, cancel := d.events.Subscribe(func(m events.Message) bool {
		if m.Type != events.ContainerEventType {
			return false
		}
		_, known := podEventTypes[m.Action]
		return known && m.Actor.Attributes[backend.PodContainerTypeLabel] != ""
	})
	out := make(chan backend.PodEvent)
	go func() {
		defer close(out)
		defer cancel()
		for {
			var m events.Message
			var ok bool
			select {
			case <-ctx.Done():
				return
			case m, ok = <-live:
				if !ok {
					return
				}
			}
			ev := backend.PodEvent{Type: podEventTypes[m.Action], ContainerID: m.Actor.ID, Time: time.Unix(0, m.TimeNano)}
			ev.SandboxID = m.Actor.Attributes[backend.PodSandboxIDLabel]
			if m.Actor.Attributes[backend.PodContainerTypeLabel] == backend.PodTypeSandbox {
				ev.SandboxID = m.Actor.ID
			}
			if r := d.pods().get(ev.SandboxID); r != nil && ev.SandboxID != "" {
				v := d.podSandboxView(r)
				ev.Sandbox = &v
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
