package containerfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// View is a thread whose root directory is a container's root.
type View struct {
	todo chan func()
	done chan struct{}
	root *os.File
}

// Setup prepares the view's root. It runs on the view's thread after the
// thread has its own mount namespace (private to it: nothing mounted here
// propagates to the host) and before the chroot; it returns an open
// directory whose inode becomes "/". The view keeps the descriptor (Root)
// until it is closed.
type Setup func() (root *os.File, err error)

// Open starts a view. Close it when done: the thread, its mounts and its
// root go away with it.
func Open(setup Setup) (*View, error) {
	v := &View{todo: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(v.done)
		// Never unlocked: when this goroutine returns, the runtime ends
		// the thread instead of handing a chrooted thread to other
		// goroutines. New threads are cloned from the runtime's template
		// thread, not this one, so none inherits the root.
		runtime.LockOSThread()
		root, err := enter(setup)
		if err != nil {
			started <- err
			return
		}
		v.root = root
		started <- nil
		for fn := range v.todo {
			fn()
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return v, nil
}

func enter(setup Setup) (*os.File, error) {
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("unshare: %w", err)
	}
	// Slave, not private: unmounts on the host (a volume driver letting go)
	// still reach this namespace, while nothing done here reaches the host.
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return nil, fmt.Errorf("make mounts slave: %w", err)
	}
	root, err := setup()
	if err != nil {
		return nil, err
	}
	if err := unix.Fchdir(int(root.Fd())); err != nil {
		root.Close()
		return nil, fmt.Errorf("fchdir: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		root.Close()
		return nil, fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		root.Close()
		return nil, err
	}
	return root, nil
}

// Root is the view's root directory. Resolve paths of the container on
// it with OpenInRoot, from any goroutine: the chroot does not stop /proc
// magic links (a container whose /proc shows host processes has the
// host's root at /proc/<pid>/root), openat2 does. The mounts of a view's
// namespace stay reachable through it while the view is open.
func (v *View) Root() *os.File { return v.root }

// errClosed is returned for work submitted after Close.
var errClosed = errors.New("container filesystem view is closed")

// Run runs fn in the view and returns its error. fn must not start
// goroutines that touch files: they run on other threads, with the host's
// root.
func (v *View) Run(ctx context.Context, fn func() error) (err error) {
	res := make(chan error, 1)
	select {
	case v.todo <- func() { res <- fn() }:
	case <-ctx.Done():
		return ctx.Err()
	case <-v.done:
		return errClosed
	}
	return <-res
}

// Go starts fn in the view without waiting for it to finish. Close waits.
func (v *View) Go(fn func()) error {
	select {
	case v.todo <- fn:
		return nil
	case <-v.done:
		return errClosed
	}
}

// Close waits for the work in flight and ends the view's thread.
func (v *View) Close() {
	close(v.todo)
	<-v.done
	v.root.Close()
}
