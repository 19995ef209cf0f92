package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// New makes a network namespace pinned at path, a file it creates (the
// directory must exist). The namespace has only its loopback device,
// down.
func New(path string) (retErr error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	defer func() {
		if retErr != nil {
			_ = os.Remove(path)
		}
	}()
	done := make(chan error, 1)
	// The namespace is made on a thread of its own: unshare changes the
	// calling thread only, and a thread that cannot return to the
	// daemon's namespace must not run anything else (a goroutine that
	// ends while locked takes its thread with it).
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer home.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		mountErr := unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			// Left locked: the thread dies with this goroutine.
			done <- errors.Join(mountErr, fmt.Errorf("return to the daemon's network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		if mountErr != nil {
			mountErr = fmt.Errorf("pin network namespace at %s: %w", path, mountErr)
		}
		done <- mountErr
	}()
	return <-done
}

// Remove unpins the namespace at path and removes the file; the kernel
// frees the namespace, and the devices in it, once nothing else holds
// it. A path that is gone is not an error.
func Remove(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unpin network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
