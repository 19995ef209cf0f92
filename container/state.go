package container

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/errdefs"
)

// State is a container's lifecycle state. Its zero value is "created".
// Methods that change it are called with the container's lock held; Wait
// may be called without it.
type State struct {
	Running           bool
	Paused            bool
	Restarting        bool
	OOMKilled         bool
	RemovalInProgress bool
	Dead              bool
	Pid               int
	ExitCode          int
	Error             string
	StartedAt         time.Time
	FinishedAt        time.Time
	Health            *container.Health `json:",omitempty"`

	// waiters are woken on every stop and on removal.
	mu          sync.Mutex
	stopWaiters []chan StateStatus
	rmWaiters   []chan StateStatus
	removed     bool
	// changes counts the transitions (the Set* methods): a container's
	// view is current while the count is the one it was published at.
	changes atomic.Uint64
	// onChange publishes a transition to the container's view (view.go)
	// before any waiter wakes; nil for a State of no container.
	onChange func()
}

// begin marks a transition under way: until it is published, a reader
// of the container's view waits for the container's lock instead.
func (s *State) begin() { s.changes.Add(1) }

// publish makes the transition the container's view.
func (s *State) publish() {
	if s.onChange != nil {
		s.onChange()
	}
}

// StateStatus is what a waiter receives: the exit code, and an error when
// the container could not run at all.
type StateStatus struct {
	ExitCode int
	Err      error
}

// Status is the single word dockerd reports (created, running, …).
func (s *State) Status() container.ContainerState {
	switch {
	case s.RemovalInProgress:
		return container.StateRemoving
	case s.Dead:
		return container.StateDead
	case s.Running && s.Paused:
		return container.StatePaused
	case s.Restarting:
		return container.StateRestarting
	case s.Running:
		return container.StateRunning
	case s.StartedAt.IsZero():
		return container.StateCreated
	}
	return container.StateExited
}

// String is the human status `docker ps` shows ("Up 2 minutes (healthy)",
// "Exited (1) 3 seconds ago", …), worded as dockerd words it.
func (s *State) String() string {
	if s.Running {
		if s.Paused {
			return fmt.Sprintf("Up %s (Paused)", units.HumanDuration(time.Since(s.StartedAt)))
		}
		if s.Restarting {
			return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, units.HumanDuration(time.Since(s.FinishedAt)))
		}
		up := "Up " + units.HumanDuration(time.Since(s.StartedAt))
		if s.Health != nil && s.Health.Status != container.NoHealthcheck {
			if s.Health.Status == container.Starting {
				return up + " (health: starting)"
			}
			return up + " (" + string(s.Health.Status) + ")"
		}
		return up
	}
	if s.RemovalInProgress {
		return "Removal In Progress"
	}
	if s.Dead {
		return "Dead"
	}
	if s.StartedAt.IsZero() {
		return "Created"
	}
	if s.FinishedAt.IsZero() {
		return ""
	}
	return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, units.HumanDuration(time.Since(s.FinishedAt)))
}

// API returns the state as the Engine API shows it.
func (s *State) API() *container.State {
	return &container.State{
		Status:     s.Status(),
		Running:    s.Running,
		Paused:     s.Paused,
		Restarting: s.Restarting,
		OOMKilled:  s.OOMKilled,
		Dead:       s.Dead,
		Pid:        s.Pid,
		ExitCode:   s.ExitCode,
		Error:      s.Error,
		StartedAt:  s.StartedAt.UTC().Format(time.RFC3339Nano),
		FinishedAt: s.FinishedAt.UTC().Format(time.RFC3339Nano),
		Health:     s.Health,
	}
}

// IsRunning reports whether the process is alive (paused included).
func (s *State) IsRunning() bool { return s.Running }

// SetRunning records a started process.
func (s *State) SetRunning(pid int, initial bool) {
	s.begin()
	s.Error = ""
	s.Running = true
	s.Restarting = false
	s.Paused = false
	s.Dead = false
	s.ExitCode = 0
	s.Pid = pid
	if initial {
		s.OOMKilled = false
		s.StartedAt = time.Now().UTC()
	}
	s.publish()
}

// SetStopped records the exit and wakes stop waiters.
func (s *State) SetStopped(exitCode int, oomKilled bool) {
	s.begin()
	s.Running = false
	s.Paused = false
	s.Restarting = false
	s.Pid = 0
	s.ExitCode = exitCode
	s.OOMKilled = oomKilled
	if s.FinishedAt.IsZero() || !s.StartedAt.IsZero() {
		s.FinishedAt = time.Now().UTC()
	}
	s.publish()
	s.notifyStop(StateStatus{ExitCode: exitCode})
}

// SetRestarting records an exit after which the restart policy will start
// the container again. Waiters for the next exit are woken.
func (s *State) SetRestarting(exitCode int, oomKilled bool) {
	s.begin()
	s.Running = true
	s.Restarting = true
	s.Paused = false
	s.Pid = 0
	s.ExitCode = exitCode
	s.OOMKilled = oomKilled
	s.FinishedAt = time.Now().UTC()
	s.publish()
	s.notifyStop(StateStatus{ExitCode: exitCode})
}

// SetError records a start failure (the exit code dockerd uses for it is
// set by the caller: 125, 126 or 127).
func (s *State) SetError(err error, exitCode int) {
	s.begin()
	s.Error = err.Error()
	s.ExitCode = exitCode
	s.publish()
	s.notifyStop(StateStatus{ExitCode: exitCode, Err: err})
}

// SetPaused and SetUnpaused follow the freezer.
func (s *State) SetPaused()   { s.begin(); s.Paused = true; s.publish() }
func (s *State) SetUnpaused() { s.begin(); s.Paused = false; s.publish() }

// SetRemovalInProgress marks the container as being removed; a second
// removal at the same time is a conflict.
func (s *State) SetRemovalInProgress() error {
	if s.RemovalInProgress {
		return errdefs.Conflictf("removal of container is already in progress")
	}
	s.begin()
	s.RemovalInProgress = true
	s.publish()
	return nil
}

// ResetRemovalInProgress undoes SetRemovalInProgress after a failed removal.
func (s *State) ResetRemovalInProgress() {
	s.begin()
	s.RemovalInProgress = false
	s.publish()
}

// SetDead marks a container whose removal failed half way.
func (s *State) SetDead() { s.begin(); s.Dead = true; s.publish() }

// SetRemoved wakes everyone waiting for the container to go away.
func (s *State) SetRemoved() {
	s.begin()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removed = true
	for _, ch := range s.rmWaiters {
		ch <- StateStatus{ExitCode: s.ExitCode}
		close(ch)
	}
	s.rmWaiters = nil
	for _, ch := range s.stopWaiters {
		ch <- StateStatus{ExitCode: s.ExitCode}
		close(ch)
	}
	s.stopWaiters = nil
}

func (s *State) notifyStop(st StateStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.stopWaiters {
		ch <- st
		close(ch)
	}
	s.stopWaiters = nil
}

// Wait returns a channel that yields once the condition holds:
// not-running (now, if already stopped), next-exit (the next stop even if
// stopped now) or removed. The caller must hold the container's lock while
// calling Wait, so that the check and the registration are atomic with
// respect to state changes; the channel is read without it.
func (s *State) Wait(ctx context.Context, cond container.WaitCondition) <-chan StateStatus {
	ch := make(chan StateStatus, 1)
	s.mu.Lock()
	switch {
	case s.removed:
		ch <- StateStatus{ExitCode: s.ExitCode}
		close(ch)
		s.mu.Unlock()
		return ch
	case cond == container.WaitConditionRemoved:
		s.rmWaiters = append(s.rmWaiters, ch)
	case cond == container.WaitConditionNextExit:
		s.stopWaiters = append(s.stopWaiters, ch)
	default: // not-running
		if !s.Running {
			ch <- StateStatus{ExitCode: s.ExitCode}
			close(ch)
			s.mu.Unlock()
			return ch
		}
		s.stopWaiters = append(s.stopWaiters, ch)
	}
	s.mu.Unlock()
	if ctx.Done() == nil {
		return ch
	}
	out := make(chan StateStatus, 1)
	go func() {
		select {
		case st := <-ch:
			out <- st
		case <-ctx.Done():
			out <- StateStatus{ExitCode: -1, Err: ctx.Err()}
		}
		close(out)
	}()
	return out
}
