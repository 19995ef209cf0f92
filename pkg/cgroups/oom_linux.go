package cgroups

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// OOMEvents delivers one value per OOM kill in the cgroup until ctx ends
// or the cgroup is removed. The channel is closed then.
func OOMEvents(ctx context.Context, m Manager) (<-chan struct{}, error) {
	switch m := m.(type) {
	case *v1Manager:
		return m.oomEvents(ctx)
	case *v2Manager:
		return m.oomEvents(ctx)
	}
	return nil, fmt.Errorf("cgroups: OOM events not supported by %T", m)
}

// v1: an eventfd registered for memory.oom_control through
// cgroup.event_control; it also fires when the cgroup is removed.
func (m *v1Manager) oomEvents(ctx context.Context) (<-chan struct{}, error) {
	dir := m.paths["memory"]
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	ev := os.NewFile(uintptr(efd), "oom-eventfd")
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		ev.Close()
		return nil, err
	}
	if err := writeFile(dir, "cgroup.event_control", fmt.Sprintf("%d %d", efd, ctl.Fd())); err != nil {
		ev.Close()
		ctl.Close()
		return nil, err
	}
	ch := make(chan struct{}, 16)
	go func() {
		<-ctx.Done()
		ev.Close()
	}()
	go func() {
		defer close(ch)
		defer ctl.Close()
		buf := make([]byte, 8)
		for {
			if _, err := ev.Read(buf); err != nil {
				return
			}
			if _, err := os.Stat(filepath.Join(dir, "memory.oom_control")); err != nil {
				return // the cgroup went away
			}
			// The notification comes when the cgroup hits OOM, before the
			// kill is counted; dockerd reports it as the OOM event too.
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, nil
}

// v2: inotify on memory.events, whose oom_kill counter the kernel bumps.
func (m *v2Manager) oomEvents(ctx context.Context) (<-chan struct{}, error) {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	in := os.NewFile(uintptr(ifd), "oom-inotify")
	if _, err := unix.InotifyAddWatch(ifd, filepath.Join(m.dir, "memory.events"), unix.IN_MODIFY); err != nil {
		in.Close()
		return nil, err
	}
	ch := make(chan struct{}, 16)
	go func() {
		<-ctx.Done()
		in.Close()
	}()
	go func() {
		defer close(ch)
		last, _ := m.OOMKills()
		buf := make([]byte, 4096)
		for {
			if _, err := in.Read(buf); err != nil {
				return
			}
			n, err := m.OOMKills()
			if err != nil {
				return
			}
			for ; last < n; last++ {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch, nil
}
