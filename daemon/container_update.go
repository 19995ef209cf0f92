package daemon

import (
	"context"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/runtime"
)

// ContainerUpdate answers POST /containers/{id}/update: resources and the
// restart policy change in place; a running container's cgroup is
// rewritten at once.
func (d *Daemon) ContainerUpdate(ctx context.Context, ref string, u container.UpdateConfig) (container.UpdateResponse, error) {
	return d.containerUpdate(ctx, ref, u, nil)
}

// containerUpdate is ContainerUpdate, with the extra cgroup settings of a
// pod container's update (nil from the Engine API).
func (d *Daemon) containerUpdate(ctx context.Context, ref string, u container.UpdateConfig, extra *cgroups.ExtraResources) (container.UpdateResponse, error) {
	resp := container.UpdateResponse{Warnings: []string{}}
	if err := checkExtraResources(extra); err != nil {
		return resp, err
	}
	c, err := d.containers.Get(ref)
	if err != nil {
		return resp, err
	}
	c.Lock()
	defer c.Unlock()
	if c.State.RemovalInProgress || c.State.Dead {
		return resp, errdefs.Conflictf("Cannot update container %s: container is marked for removal and cannot be \"update\"", c.ID)
	}
	next := *c.HostConfig
	r := &next.Resources
	// Only the fields the client set change (zero means "leave as is").
	if u.Memory != 0 {
		r.Memory = u.Memory
	}
	if u.MemorySwap != 0 {
		r.MemorySwap = u.MemorySwap
	}
	if u.MemoryReservation != 0 {
		r.MemoryReservation = u.MemoryReservation
	}
	if u.NanoCPUs != 0 {
		r.NanoCPUs, r.CPUPeriod, r.CPUQuota = u.NanoCPUs, 0, 0
	}
	if u.CPUShares != 0 {
		r.CPUShares = u.CPUShares
	}
	if u.CPUPeriod != 0 {
		r.CPUPeriod = u.CPUPeriod
	}
	if u.CPUQuota != 0 {
		r.CPUQuota = u.CPUQuota
	}
	if u.CpusetCpus != "" {
		r.CpusetCpus = u.CpusetCpus
	}
	if u.CpusetMems != "" {
		r.CpusetMems = u.CpusetMems
	}
	if u.BlkioWeight != 0 {
		r.BlkioWeight = u.BlkioWeight
	}
	if u.PidsLimit != nil {
		r.PidsLimit = u.PidsLimit
	}
	// Per-device blkio rules (API 1.55): nil leaves them, empty clears.
	if u.BlkioWeightDevice != nil {
		r.BlkioWeightDevice = u.BlkioWeightDevice
	}
	if u.BlkioDeviceReadBps != nil {
		r.BlkioDeviceReadBps = u.BlkioDeviceReadBps
	}
	if u.BlkioDeviceWriteBps != nil {
		r.BlkioDeviceWriteBps = u.BlkioDeviceWriteBps
	}
	if u.BlkioDeviceReadIOps != nil {
		r.BlkioDeviceReadIOps = u.BlkioDeviceReadIOps
	}
	if u.BlkioDeviceWriteIOps != nil {
		r.BlkioDeviceWriteIOps = u.BlkioDeviceWriteIOps
	}
	if u.RestartPolicy.Name != "" {
		if next.AutoRemove && !u.RestartPolicy.IsNone() {
			return resp, errdefs.Conflictf("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		next.RestartPolicy = u.RestartPolicy
	}
	if c.State.Running && r.Memory != 0 && r.MemorySwap == 0 && c.HostConfig.Resources.MemorySwap > 0 && r.Memory > c.HostConfig.Resources.MemorySwap {
		return resp, errdefs.InvalidParameterf("Cannot update container %s: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time", c.ID)
	}
	if err := validateHostConfig(&next); err != nil {
		return resp, err
	}
	// As at create: what the host's cgroups cannot enforce is dropped
	// with dockerd's warning.
	warnings, err := discardUnsupported(&next)
	resp.Warnings = append(resp.Warnings, warnings...)
	if err != nil {
		return resp, err
	}
	nextExtra := mergeExtraResources(c.ExtraResources, extra)
	if c.State.Running {
		// Only the resources are applied: a whole spec would read the
		// running container's files under its lock.
		s := runtime.DefaultSpec()
		saved := c.HostConfig
		c.HostConfig = &next
		if err := setResources(s, &next); err != nil {
			c.HostConfig = saved
			return resp, err
		}
		setExtraResources(s, nextExtra)
		// A limit the update removed must be lifted in the cgroup too.
		if u.PidsLimit != nil && *u.PidsLimit <= 0 && s.Linux.Resources.Pids == nil {
			s.Linux.Resources.Pids = &specs.LinuxPids{}
		}
		// Under systemd, its properties first: setting them has systemd
		// write the files, which then get the rest.
		if err := d.updateScope(ctx, c, s.Linux.Resources); err != nil {
			c.HostConfig = saved
			return resp, err
		}
		cg, err := cgroups.New(d.cgroupPath(c))
		if err == nil {
			err = cg.Set(s.Linux.Resources)
		}
		if err != nil {
			c.HostConfig = saved
			return resp, errdefs.System(err)
		}
	}
	c.HostConfig = &next
	c.ExtraResources = nextExtra
	if err := c.Save(); err != nil {
		return resp, errdefs.System(err)
	}
	d.logContainerEvent(c, events.ActionUpdate, nil)
	return resp, nil
}
