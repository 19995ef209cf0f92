package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	bk "github.com/moby/buildkit/executor"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/cgroups"
)

// mountRoot mounts the step's root snapshot at Root/<id>/rootfs on the
// host, where the runtime takes it as the container's root and where user
// names and the working directory are looked up. The returned release
// unmounts it and removes the directories.
func (e *Executor) mountRoot(ctx context.Context, id string, root bk.Mount) (string, func(), error) {
	if root.Src == nil {
		return "", nil, errors.New("build container has no root")
	}
	ref, err := root.Src.Mount(ctx, false)
	if err != nil {
		return "", nil, err
	}
	mounts, releaseRef, err := ref.Mount()
	if err != nil {
		return "", nil, err
	}
	if releaseRef == nil {
		releaseRef = func() error { return nil }
	}
	bundle := filepath.Join(e.root, id)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.Mkdir(bundle, 0o711); err != nil {
		_ = releaseRef()
		return "", nil, err
	}
	if err := os.Mkdir(rootfs, 0o700); err != nil {
		_ = os.Remove(bundle)
		_ = releaseRef()
		return "", nil, err
	}
	if err := mount.All(mounts, rootfs); err != nil {
		_ = os.Remove(rootfs)
		_ = os.Remove(bundle)
		_ = releaseRef()
		return "", nil, fmt.Errorf("mount build container root: %w", err)
	}
	return rootfs, func() {
		if err := unmountBundle(bundle); err == nil {
			_ = os.Remove(bundle)
		}
		_ = releaseRef()
	}, nil
}

// unmountBundle unmounts a bundle's rootfs, every layer of it, and
// removes the then empty directory and the bundle's other file. It never removes recursively: a
// rootfs still mounted is a snapshot whose files must not go.
func unmountBundle(bundle string) error {
	rootfs := filepath.Join(bundle, "rootfs")
	if err := mount.UnmountAll(rootfs, 0); err != nil {
		// Busy (a process of a killed step not yet reaped): detach, so
		// that nothing stays visible and the kernel finishes the
		// unmount when the last user goes.
		if err := mount.UnmountAll(rootfs, unix.MNT_DETACH); err != nil {
			return err
		}
	}
	if err := os.Remove(rootfs); err != nil && !os.IsNotExist(err) {
		return err
	}
	// The network's resolv.conf, when it gave one.
	if err := os.Remove(filepath.Join(bundle, "resolv.conf")); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// removeLeftovers unmounts and removes the bundles of steps that a
// previous daemon was running when it died.
func (e *Executor) removeLeftovers() error {
	entries, err := os.ReadDir(e.root)
	if err != nil {
		return err
	}
	var errs []error
	for _, ent := range entries {
		if !ent.IsDir() || ent.Name() == "runtime" {
			continue
		}
		bundle := filepath.Join(e.root, ent.Name())
		// Its processes outlived their daemon, reparented; they go
		// before their root does.
		if err := endCgroup(e.cgroupPath(ent.Name())); err != nil {
			errs = append(errs, fmt.Errorf("leftover build container %s: %w", ent.Name(), err))
		}
		if err := unmountBundle(bundle); err != nil {
			errs = append(errs, fmt.Errorf("leftover build container %s: %w", ent.Name(), err))
			continue
		}
		if err := os.Remove(bundle); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// endCgroup kills every process in the cgroup at path and removes it; a
// cgroup that does not exist is not an error.
func endCgroup(path string) error {
	cg, err := cgroups.New(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cg.Path("pids")); os.IsNotExist(err) {
		return nil
	}
	// Frozen tasks take no signal until thawed.
	_ = cg.Thaw()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		pids, err := cg.Pids()
		if err != nil || len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cg.Destroy()
}
