package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/procstat"
)

// ID is the container's name.
func (c *Container) ID() string { return c.st.ID }

// Pid is the container's init process on the host.
func (c *Container) Pid() int { return c.st.Pid }

// Bundle is the absolute bundle path.
func (c *Container) Bundle() string { return c.st.Bundle }

// Spec is the spec the container was created with.
func (c *Container) Spec() *specs.Spec {
	s, _ := c.spec()
	return s
}

// Cgroup returns the container's cgroup manager.
func (c *Container) Cgroup() (cgroups.Manager, error) { return cgroups.New(c.st.CgroupPath) }

func (c *Container) alive() bool {
	return c.st.Pid > 0 && c.st.StartTime != 0 && procstat.StartTime(c.st.Pid) == c.st.StartTime
}

// Status is created, running, paused or stopped, as runc reports it.
func (c *Container) Status() specs.ContainerState {
	if !c.alive() {
		return specs.StateStopped
	}
	if c.created() {
		return specs.StateCreated
	}
	if cg, err := c.Cgroup(); err == nil {
		if frozen, _ := cg.Frozen(); frozen {
			return "paused"
		}
	}
	return specs.StateRunning
}

// created reports that Start has not run: the start pipe is still ours,
// or the exec FIFO still exists.
func (c *Container) created() bool {
	if c.dir == "" {
		c.startMu.Lock()
		defer c.startMu.Unlock()
		return c.startW != nil
	}
	_, err := os.Stat(filepath.Join(c.dir, "exec.fifo"))
	return err == nil
}

// State is the OCI state document.
func (c *Container) State() *specs.State {
	st := &specs.State{
		Version: specs.Version, ID: c.st.ID, Status: c.Status(), Bundle: c.st.Bundle,
		Annotations: c.st.Annotations,
	}
	if st.Status != specs.StateStopped {
		st.Pid = c.st.Pid
	}
	return st
}

// execWait bounds how long Start waits for the user process's execve. It
// is normally well under a millisecond; the bound keeps a stage that is
// stuck on the container's own files (a lookup on a FUSE mount) from
// holding Start, and the caller's locks, for longer.
const execWait = time.Second

// awaitExec waits until the init's end of the start socket is closed:
// by its execve (the descriptor is close-on-exec by then) or by its exit.
// Start then returns with the user's command running, as runc's start
// followed by dockerd's bookkeeping appears to clients: `docker top` right
// after `docker run -d` shows the command, not the init stage.
func awaitExec(start *os.File) {
	deadline := time.Now().Add(execWait)
	buf := make([]byte, 1)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		fds := []unix.PollFd{{Fd: int32(start.Fd()), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return
		}
		if r, err := unix.Read(int(start.Fd()), buf); r == 0 || (err != nil && err != unix.EAGAIN && err != unix.EINTR) {
			return
		}
	}
}

// Start lets the user process run: a byte on the start pipe, or opening
// the FIFO's read side, releases the init stage blocked on it.
func (c *Container) Start() error {
	if c.Status() != specs.StateCreated {
		return errdefs.Conflict(fmt.Errorf("container %s is not in created state", c.st.ID))
	}
	// The stage now waits on the FIFO with all its threads started; only
	// execve is left for it, so the pids limit can apply from here.
	spec, err := c.spec()
	if err != nil {
		return err
	}
	if r := spec.Linux.Resources; r != nil && r.Pids != nil {
		cg, err := c.Cgroup()
		if err != nil {
			return err
		}
		if err := cg.Set(&specs.LinuxResources{Pids: r.Pids}); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
	}
	if c.dir == "" {
		c.startMu.Lock()
		defer c.startMu.Unlock()
		if c.startW == nil {
			return errdefs.Conflict(fmt.Errorf("container %s is not in created state", c.st.ID))
		}
		_, err := c.startW.Write([]byte{'0'})
		if err == nil {
			awaitExec(c.startW)
		}
		c.startW.Close()
		c.startW = nil
		if err != nil {
			// EPIPE: the init is gone.
			return errors.New("container init exited before start")
		}
		return nil
	}
	// Non-blocking so a dead init cannot hang us; it is ready by now.
	fifo := filepath.Join(c.dir, "exec.fifo")
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: fifo, Err: err}
	}
	defer unix.Close(fd)
	// Wait in poll(2) for the init's byte rather than in sleeps between
	// reads: the init opens its end as soon as ours is open and writes
	// at once, and a start should not wait out a sleep's granularity.
	// (Before any writer has opened a FIFO, poll reports no hang-up.)
	// The timeout only paces the check that the init is still there.
	buf := make([]byte, 1)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 10)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("wait for the init: %w", err)
		}
		if n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0 {
			if r, rerr := unix.Read(fd, buf); r > 0 {
				break
			} else if rerr != nil && rerr != unix.EAGAIN {
				return fmt.Errorf("wait for the init: %w", rerr)
			}
			if fds[0].Revents&unix.POLLHUP != 0 {
				return errors.New("container init exited before start")
			}
		}
		if !c.alive() {
			return errors.New("container init exited before start")
		}
	}
	// A process as quick as `true` may be gone, and its state deleted by
	// the caller, before we get here.
	if err := os.Remove(fifo); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Signal sends sig to the init process, or to every process in the
// container's cgroup when all is set.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	if all {
		cg, err := c.Cgroup()
		if err != nil {
			return err
		}
		if sig == unix.SIGKILL {
			// Frozen tasks do not die until thawed.
			_ = cg.Freeze()
			defer func() { _ = cg.Thaw() }()
		}
		pids, err := cg.Pids()
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		for _, p := range pids {
			_ = unix.Kill(p, sig)
		}
		return nil
	}
	if !c.alive() {
		return errdefs.NotFound(fmt.Errorf("container %s is not running", c.st.ID))
	}
	return unix.Kill(c.st.Pid, sig)
}

// Pause freezes every process of the container.
func (c *Container) Pause() error {
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	return cg.Freeze()
}

// Resume thaws it.
func (c *Container) Resume() error {
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	return cg.Thaw()
}

// Delete removes a stopped container's cgroup and state. With force a
// running container is killed first.
func (c *Container) Delete(force bool) error {
	if c.alive() {
		if !force {
			return errdefs.Conflict(fmt.Errorf("container %s is %s, stop it first", c.st.ID, c.Status()))
		}
		_ = c.Signal(unix.SIGKILL, true)
		_ = unix.Kill(c.st.Pid, unix.SIGKILL)
		for i := 0; i < 500 && c.alive(); i++ {
			time.Sleep(2 * time.Millisecond)
		}
	}
	cg, err := c.Cgroup()
	if err == nil {
		// Processes that outlived init (host pid namespace) must go too,
		// or the cgroup cannot be removed.
		if pids, _ := cg.Pids(); len(pids) > 0 {
			_ = c.Signal(unix.SIGKILL, true)
			for i := 0; i < 500; i++ {
				if pids, _ := cg.Pids(); len(pids) == 0 {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		err = cg.Destroy()
	}
	c.startMu.Lock()
	if c.startW != nil {
		c.startW.Close()
		c.startW = nil
	}
	c.startMu.Unlock()
	if c.dir == "" {
		return err
	}
	if rerr := os.RemoveAll(c.dir); rerr != nil {
		return rerr
	}
	return err
}
