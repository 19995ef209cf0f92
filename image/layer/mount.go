package layer

import (
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// MountOverlay mounts an overlay at target whose lower layers are lowers,
// top first, given relative to dir (Links' "l/<link>" with dir = Root).
// upper and work are absolute, or both empty for a read-only overlay
// (which needs at least two lowers).
//
// The kernel takes mount options in one page; with absolute paths a
// 120-layer image does not fit, with 29-byte aliases it does. Relative
// lowerdirs resolve against the mounting thread's working directory, so
// the mount runs on a thread that has its own (unshared) filesystem
// context and chdirs there: the process' working directory, shared by
// every other goroutine, never changes. That thread is not handed back
// to the Go scheduler; it exits with its goroutine.
func MountOverlay(dir string, lowers []string, upper, work, target string) error {
	opts, err := overlayOptions(lowers, upper, work, target)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: a thread with its own working directory must
		// not run other goroutines.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs context: %w", err)
			return
		}
		errc <- mountFromDir(dir, opts, target)
	}()
	return <-errc
}

// MountOverlayHere is MountOverlay on the calling thread, for a caller
// whose mount must land in the thread's own mount namespace (a filesystem
// view of a stopped container). The thread must be locked and have its
// own filesystem context (unshare(CLONE_FS)), since it changes directory.
func MountOverlayHere(dir string, lowers []string, upper, work, target string) error {
	opts, err := overlayOptions(lowers, upper, work, target)
	if err != nil {
		return err
	}
	return mountFromDir(dir, opts, target)
}

func mountFromDir(dir, opts, target string) error {
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	return nil
}

// overlayOptions builds and checks the mount data.
func overlayOptions(lowers []string, upper, work, target string) (string, error) {
	if len(lowers) == 0 {
		return "", fmt.Errorf("overlay mount of %s: no lower layers", target)
	}
	if (upper == "") != (work == "") {
		return "", fmt.Errorf("overlay mount of %s: upperdir and workdir go together", target)
	}
	for _, l := range lowers {
		if strings.ContainsAny(l, ":,") {
			return "", fmt.Errorf("overlay mount of %s: lower layer path %q has a ':' or ','", target, l)
		}
	}
	opts := "lowerdir=" + strings.Join(lowers, ":")
	if upper != "" {
		opts += ",upperdir=" + upper + ",workdir=" + work
	}
	if len(opts) > unix.Getpagesize()-1 {
		return "", fmt.Errorf("overlay mount of %s: %d layers need %d bytes of mount options, over the %d the kernel takes", target, len(lowers), len(opts), unix.Getpagesize()-1)
	}
	return opts, nil
}
