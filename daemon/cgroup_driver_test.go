package daemon

import (
	"testing"

	"github.com/moby/moby/api/types/container"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/pkg/cgroups/systemd"
	"github.com/berthd/berth/pkg/errdefs"
)

func TestCgroupPathPerDriver(t *testing.T) {
	c := &ctr.Container{ID: "abc", HostConfig: &container.HostConfig{}}
	cgroupfs := &Daemon{cfg: config.Default()}
	if got := cgroupfs.cgroupPath(c); got != "/berth/abc" {
		t.Errorf("cgroupfs default: %s", got)
	}
	// A start under systemd recorded the slice's cgroup and the scope:
	// the path stays theirs whatever the daemon's driver is now.
	c.CgroupParent, c.CgroupScope = "/root/a.slice/a-b.slice", systemd.ScopeName("abc")
	if got := cgroupfs.cgroupPath(c); got != "/root/a.slice/a-b.slice/docker-abc.scope" {
		t.Errorf("recorded scope: %s", got)
	}

	sd := &Daemon{cfg: config.Default(), systemd: systemd.NewClient()}
	if sd.cgroupDriverName() != "systemd" || cgroupfs.cgroupDriverName() != "cgroupfs" {
		t.Error("driver names")
	}
	fresh := &ctr.Container{ID: "def", HostConfig: &container.HostConfig{}}
	if got := sd.startSlice(fresh); got != "system.slice" {
		t.Errorf("default slice %s", got)
	}
	sd.cfg.CgroupParent = "berth.slice"
	if got := sd.startSlice(fresh); got != "berth.slice" {
		t.Errorf("daemon's slice %s", got)
	}
	fresh.HostConfig.CgroupParent = "mine.slice"
	if got := sd.startSlice(fresh); got != "mine.slice" {
		t.Errorf("container's slice %s", got)
	}
	for _, bad := range []string{"/mine", "x.scope", "a--b.slice"} {
		if err := sd.checkCgroupParent(bad); !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%s: %v, want an invalid-parameter error", bad, err)
		}
	}
	if err := cgroupfs.checkCgroupParent("/mine"); err != nil {
		t.Errorf("cgroupfs takes a path: %v", err)
	}
}
