package daemon

import (
	"context"
	"path"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/cgroups/systemd"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

// defaultSlice is dockerd's parent for containers under the systemd
// driver.
const defaultSlice = "system.slice"

// usingSystemd says whether containers started now get a systemd scope.
func (d *Daemon) usingSystemd() bool { return d.systemd != nil }

// cgroupDriverName is the driver docker info and the CRI report.
func (d *Daemon) cgroupDriverName() string {
	if d.usingSystemd() {
		return config.CgroupDriverSystemd
	}
	return config.CgroupDriverCgroupfs
}

// checkCgroupParent refuses, with dockerd's message, a --cgroup-parent
// the driver cannot use.
func (d *Daemon) checkCgroupParent(parent string) error {
	if parent == "" || !d.usingSystemd() {
		return nil
	}
	if err := config.CheckSystemdParent(parent); err != nil {
		return errdefs.InvalidParameter(err)
	}
	if _, err := systemd.ExpandSlice(parent); err != nil {
		return errdefs.InvalidParameter(err)
	}
	return nil
}

// startCgroupParent is the cgroupfs parent for c's next start: its
// --cgroup-parent, else the daemon's cgroup-parent, else /berth.
func (d *Daemon) startCgroupParent(c *ctr.Container) string {
	if p := c.HostConfig.CgroupParent; p != "" {
		return p
	}
	if p := d.Config().CgroupParent; p != "" {
		return p
	}
	return "/berth"
}

// startSlice is the slice of c's next scope: its --cgroup-parent, else
// the daemon's cgroup-parent, else system.slice.
func (d *Daemon) startSlice(c *ctr.Container) string {
	if p := c.HostConfig.CgroupParent; p != "" {
		return p
	}
	if p := d.Config().CgroupParent; p != "" {
		return p
	}
	return defaultSlice
}

// placeCgroup records where c's next start puts its cgroup: under
// cgroupfs its parent; under systemd the slice's cgroup below systemd's
// root and the scope's name, so that the runtime makes the cgroup at
// the path systemd gives the scope and the scope then takes it over.
func (d *Daemon) placeCgroup(ctx context.Context, c *ctr.Container) error {
	if !d.usingSystemd() {
		c.CgroupParent, c.CgroupScope = d.startCgroupParent(c), ""
		return nil
	}
	slice := d.startSlice(c)
	if err := d.checkCgroupParent(slice); err != nil {
		return err
	}
	dir, err := systemd.ExpandSlice(slice)
	if err != nil {
		return errdefs.InvalidParameter(err)
	}
	root, err := d.systemd.Root(ctx)
	if err != nil {
		return errdefs.Unavailable(err)
	}
	c.CgroupParent, c.CgroupScope = path.Join(root, dir), systemd.ScopeName(c.ID)
	return nil
}

// cgroupPath is where c's cgroup is: under the parent its last start
// recorded (containers started before berth recorded it: as at start),
// named by its scope under systemd and by its ID under cgroupfs.
func (d *Daemon) cgroupPath(c *ctr.Container) string {
	parent := c.CgroupParent
	if parent == "" {
		parent = d.startCgroupParent(c)
	}
	if c.CgroupScope != "" {
		return filepath.Join(parent, c.CgroupScope)
	}
	return filepath.Join(parent, c.ID)
}

// startScope hands c's new process, which the runtime made in the cgroup
// at cgroupPath, to systemd as c's scope, with r as unit properties. It
// returns once systemd has the request; wait returns once systemd has
// started the unit, and writes the cgroup files again, since starting
// the unit has systemd write its own values (and its defaults) into
// them. The process must not run before wait returns: on v1 systemd's
// rewrite of the device list denies every device for a moment.
func (d *Daemon) startScope(ctx context.Context, c *ctr.Container, pid int, r *specs.LinuxResources) (wait func() error, err error) {
	if c.CgroupScope == "" || d.systemd == nil {
		return func() error { return nil }, nil
	}
	props := systemd.ScopeProperties(d.startSlice(c), d.scopeDescription(), pid, r, cgroups.IsV2())
	started, err := d.systemd.StartScope(ctx, c.CgroupScope, props)
	if err != nil {
		return nil, errdefs.System(err)
	}
	return func() error {
		if err := started(); err != nil {
			return errdefs.System(err)
		}
		return d.rewriteCgroupFiles(c, r, true)
	}, nil
}

// rewriteCgroupFiles writes r to c's cgroup files after systemd wrote
// the unit's. On v2 the device program stays the one the runtime
// attached before systemd's (systemd attaches none: no DevicePolicy).
func (d *Daemon) rewriteCgroupFiles(c *ctr.Container, r *specs.LinuxResources, devices bool) error {
	if r == nil {
		return nil
	}
	res := *r
	if cgroups.IsV2() || !devices {
		res.Devices = nil
	}
	cg, err := cgroups.New(d.cgroupPath(c))
	if err == nil {
		err = cg.Set(&res)
	}
	if err != nil {
		return errdefs.System(err)
	}
	return nil
}

// updateScope passes changed limits to c's scope; the caller writes the
// files.
func (d *Daemon) updateScope(ctx context.Context, c *ctr.Container, r *specs.LinuxResources) error {
	if c.CgroupScope == "" || d.systemd == nil {
		return nil
	}
	if err := d.systemd.SetProperties(ctx, c.CgroupScope, systemd.ResourceProperties(r, cgroups.IsV2())); err != nil {
		return errdefs.System(err)
	}
	return nil
}

// stopScope stops c's scope once its processes are gone, so that the
// name is free for its next start; kill SIGKILLs what is left first.
func (d *Daemon) stopScope(ctx context.Context, c *ctr.Container, kill bool) {
	if c.CgroupScope == "" || d.systemd == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if kill {
		_ = d.systemd.KillUnit(sctx, c.CgroupScope)
	}
	if err := d.systemd.StopUnit(sctx, c.CgroupScope); err != nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("could not stop the container's systemd scope")
	}
}

// scopeDescription marks the scopes of this daemon's containers: dockerd
// names its scopes alike, and stale-scope clean-up must leave theirs
// (and other berth daemons') alone.
func (d *Daemon) scopeDescription() string {
	return "berth container (data-root " + d.Config().DataRoot + ")"
}

// cleanStaleScopes stops the scopes of this daemon's containers that no
// longer exist or no longer run: left by a container removed while the
// daemon was down, or by a daemon killed between a scope's start and the
// container's. Runs after restore, which found the running ones again.
func (d *Daemon) cleanStaleScopes(ctx context.Context) {
	if d.systemd == nil {
		return
	}
	units, err := d.systemd.Units(ctx, systemd.ScopeName("*"))
	if err != nil {
		logrus.WithError(err).Warn("could not list systemd scopes")
		return
	}
	for _, u := range units {
		name := u.Name
		if u.Description != d.scopeDescription() {
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(name, "docker-"), ".scope")
		if c, err := d.containers.Get(id); err == nil && c.ID == id {
			c.Lock()
			running := c.State.Running && c.CgroupScope == name
			c.Unlock()
			if running {
				continue
			}
		}
		logrus.WithField("unit", name).Info("stopping the systemd scope of a container that is gone")
		_ = d.systemd.KillUnit(ctx, name)
		if err := d.systemd.StopUnit(ctx, name); err != nil {
			logrus.WithError(err).WithField("unit", name).Warn("could not stop a stale systemd scope")
		}
	}
}
