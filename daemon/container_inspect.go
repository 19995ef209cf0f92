package daemon

import (
	"context"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/storage"

	ctr "github.com/berthd/berth/container"
)

// ContainerInspect answers GET /containers/{id}/json.
func (d *Daemon) ContainerInspect(ctx context.Context, ref string, size bool) (*container.InspectResponse, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	c.Lock()
	resp := d.inspect(c)
	sz := sizeInputOf(c)
	c.Unlock()
	if size {
		rw, rootfs := d.containerSize(sz)
		resp.SizeRw, resp.SizeRootFs = &rw, &rootfs
	}
	return resp, nil
}

// inspect builds the inspect document, sizes aside. The caller holds c's
// lock.
func (d *Daemon) inspect(c *ctr.Container) *container.InspectResponse {
	hc := *c.HostConfig
	hc.Links = d.inspectLinks(c)
	cfg := *c.Config
	resp := &container.InspectResponse{
		ID:              c.ID,
		Created:         c.Created.Format(time.RFC3339Nano),
		Path:            c.Path,
		Args:            nonNil(c.Args),
		State:           c.State.API(),
		Image:           c.Image,
		ResolvConfPath:  c.ResolvConfPath,
		HostnamePath:    c.HostnamePath,
		HostsPath:       c.HostsPath,
		LogPath:         c.LogPath,
		Name:            c.Name,
		RestartCount:    c.RestartCount,
		Driver:          c.Driver,
		Platform:        c.Platform,
		MountLabel:      c.MountLabel,
		ProcessLabel:    c.ProcessLabel,
		AppArmorProfile: c.AppArmorProfile,
		ExecIDs:         c.ExecIDs,
		HostConfig:      &hc,
		GraphDriver:     d.graphDriverData(c),
		Mounts:          mountPoints(c),
		Config:          &cfg,
		NetworkSettings: c.NetworkSettings,
	}
	if resp.NetworkSettings == nil {
		resp.NetworkSettings = &container.NetworkSettings{}
	}
	return resp
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func mountPoints(c *ctr.Container) []container.MountPoint {
	out := []container.MountPoint{}
	for _, m := range c.MountPoints {
		if fromTmpfsMap(c, m) {
			continue
		}
		out = append(out, *m)
	}
	return out
}

// fromTmpfsMap tells a tmpfs of HostConfig.Tmpfs (--tmpfs) from one of
// HostConfig.Mounts: dockerd lists only the latter among the mounts.
func fromTmpfsMap(c *ctr.Container, m *container.MountPoint) bool {
	if m.Type != "tmpfs" || c.HostConfig == nil {
		return false
	}
	if _, ok := c.HostConfig.Tmpfs[m.Destination]; !ok {
		return false
	}
	for _, hm := range c.HostConfig.Mounts {
		if hm.Target == m.Destination {
			return false
		}
	}
	return true
}

// graphDriverData is inspect's GraphDriver: the overlay directories of the
// container's root, as dockerd's overlay2 driver reports them.
func (d *Daemon) graphDriverData(c *ctr.Container) *storage.DriverData {
	data := map[string]string{
		"MergedDir": fsDir(c, "merged"),
		"UpperDir":  fsDir(c, "upper"),
		"WorkDir":   fsDir(c, "work"),
	}
	if held, err := d.images.HeldRootFS(c.ID); err == nil {
		data["LowerDir"] = strings.Join(d.lowerDirs(held), ":")
	}
	return &storage.DriverData{Name: "overlay2", Data: data}
}
