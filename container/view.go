package container

import (
	"encoding/json"

	"github.com/moby/moby/api/types/container"
)

// The view is a container as it was last saved or as its last state
// transition left it, a copy no operation changes: readers that list many containers (ps) take it when an
// operation holds the container's lock, instead of waiting for that
// operation, as dockerd's ps reads its snapshot database and never
// waits for a container. Under load a ps waited for every start in
// flight (seconds), while each start held its container's lock for
// the runtime's work.

// publish makes the saved form of the container (its config JSON, and
// its host config JSON, nil when unchanged) its view. The caller holds
// the lock.
func (c *Container) publish(cfg, hc []byte) {
	v := &Container{State: &State{}, root: c.root}
	if json.Unmarshal(cfg, v) != nil {
		return
	}
	if v.State == nil {
		v.State = &State{}
	}
	v.State.changes.Store(c.State.changes.Load())
	switch prev := c.view.Load(); {
	case hc != nil:
		v.HostConfig = &container.HostConfig{}
		if json.Unmarshal(hc, v.HostConfig) != nil {
			return
		}
	case prev != nil:
		v.HostConfig = prev.HostConfig // never changed once published
	default:
		b, err := json.Marshal(c.HostConfig)
		if err != nil {
			return
		}
		v.HostConfig = &container.HostConfig{}
		if json.Unmarshal(b, v.HostConfig) != nil {
			return
		}
	}
	c.view.Store(v)
}

// publishCurrent makes the container as it is now its view (its host
// config as last published): a state transition's, before the
// operation saves it. The caller holds the lock.
func (c *Container) publishCurrent() {
	if cfg, err := json.Marshal(c); err == nil {
		c.publish(cfg, nil)
	}
}

// View is the container as last saved (nil before its first save in
// this daemon's life). It must not be changed, nor locked.
func (c *Container) View() *Container { return c.view.Load() }

// LockOrView locks the container and returns it with its unlock, or,
// when an operation holds the lock, returns its view and a no-op: what
// the view shows is what the disk holds until that operation saves.
// It waits for the lock when there is no view, or when the state has
// changed since the view was published: a transition wakes waiters
// (docker kill, stop, wait return) before the operation saves it, and
// what they see next must not be older.
func (c *Container) LockOrView() (*Container, func()) {
	if c.TryLock() {
		return c, c.Unlock
	}
	if v := c.View(); v != nil && v.State.changes.Load() == c.State.changes.Load() {
		return v, func() {}
	}
	c.Lock()
	return c, c.Unlock
}
