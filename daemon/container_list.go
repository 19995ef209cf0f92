package daemon

import (
	"context"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

// acceptedPsFilters are the filters GET /containers/json takes.
var acceptedPsFilters = map[string]bool{
	"ancestor": true, "before": true, "exited": true, "health": true, "id": true,
	"isolation": true, "is-task": true, "label": true, "name": true, "network": true,
	"publish": true, "since": true, "status": true, "volume": true, "expose": true,
}

// Containers answers GET /containers/json.
func (d *Daemon) Containers(ctx context.Context, opts backend.ContainerListOptions) ([]*container.Summary, error) {
	args, err := filters.FromJSON(opts.Filters)
	if err != nil {
		return nil, err
	}
	if err := args.Validate(acceptedPsFilters); err != nil {
		return nil, err
	}
	for _, s := range args.Get("status") {
		if err := container.ValidateContainerState(container.ContainerState(s)); err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
	}
	for _, h := range args.Get("health") {
		if err := container.ValidateHealthStatus(container.HealthStatus(h)); err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
	}
	var exited []int
	for _, e := range args.Get("exited") {
		code, err := strconv.Atoi(e)
		if err != nil {
			return nil, errdefs.InvalidParameterf("invalid filter 'exited=%s'", e)
		}
		exited = append(exited, code)
	}
	isTask, err := args.GetBoolOrDefault("is-task", false)
	if err != nil {
		return nil, err
	}

	all := d.containers.List() // newest first
	// before/since name containers; everything created after `before`
	// (or before `since`) is cut, as dockerd does.
	var beforeC, sinceC *ctr.Container
	for _, ref := range args.Get("before") {
		if beforeC, err = d.containers.Get(ref); err != nil {
			return nil, err
		}
	}
	for _, ref := range args.Get("since") {
		if sinceC, err = d.containers.Get(ref); err != nil {
			return nil, err
		}
	}

	out := []*container.Summary{}
	for _, c := range all {
		if beforeC != nil && !c.Created.Before(beforeC.Created) {
			continue
		}
		if sinceC != nil && !c.Created.After(sinceC.Created) {
			continue
		}
		// A container an operation holds (a start waiting for the
		// runtime) is listed as last saved, without waiting for it.
		lc, unlock := c.LockOrView()
		s, ok := d.summaryIfMatch(lc, opts, args, exited, isTask)
		sz := sizeInputOf(lc)
		unlock()
		if !ok {
			continue
		}
		if opts.Size {
			s.SizeRw, s.SizeRootFs = d.containerSize(sz)
		}
		out = append(out, s)
		if opts.Limit > 0 && len(out) >= opts.Limit {
			break
		}
	}
	return out, nil
}

// summaryIfMatch applies the filters to c and builds its summary. The
// caller holds c's lock.
func (d *Daemon) summaryIfMatch(c *ctr.Container, opts backend.ContainerListOptions, args filters.Args, exited []int, isTask bool) (*container.Summary, bool) {
	st := c.State.Status()
	// Without `all`, only running containers are listed, unless a filter
	// on status asks for others (dockerd's rule).
	if !opts.All && !c.State.Running && !args.Contains("status") && opts.Limit <= 0 {
		return nil, false
	}
	if !args.FuzzyMatch("id", c.ID) {
		return nil, false
	}
	name := trimSlash(c.Name)
	if !args.Match("name", name) && !args.Match("name", c.Name) {
		return nil, false
	}
	if !args.ExactMatch("status", string(st)) {
		return nil, false
	}
	if len(exited) > 0 {
		if st != container.StateExited {
			return nil, false
		}
		match := false
		for _, code := range exited {
			if code == c.State.ExitCode {
				match = true
			}
		}
		if !match {
			return nil, false
		}
	}
	if !args.MatchKVList("label", c.Config.Labels) {
		return nil, false
	}
	if args.Contains("health") {
		h := string(container.NoHealthcheck)
		if c.State.Health != nil {
			h = string(c.State.Health.Status)
		}
		if !args.ExactMatch("health", h) {
			return nil, false
		}
	}
	if isTask {
		return nil, false // berth has no swarm tasks
	}
	if args.Contains("ancestor") && !d.matchesAncestor(c, args.Get("ancestor")) {
		return nil, false
	}
	if args.Contains("network") && !args.ExactMatchAny("network", string(c.HostConfig.NetworkMode)) {
		if c.NetworkSettings == nil || !anyNetworkMatches(c.NetworkSettings, args) {
			return nil, false
		}
	}
	if args.Contains("volume") && !anyMountMatches(c, args) {
		return nil, false
	}
	if args.Contains("expose") && !anyPortMatches(c.Config, args.Get("expose")) {
		return nil, false
	}
	return d.summary(c), true
}

func anyNetworkMatches(ns *container.NetworkSettings, args filters.Args) bool {
	for name, ep := range ns.Networks {
		if args.ExactMatch("network", name) || (ep != nil && args.FuzzyMatch("network", ep.NetworkID)) {
			return true
		}
	}
	return false
}

func anyMountMatches(c *ctr.Container, args filters.Args) bool {
	for _, m := range c.MountPoints {
		if args.ExactMatchAny("volume", m.Name, m.Source, m.Destination) {
			return true
		}
	}
	return false
}

func anyPortMatches(cfg *container.Config, want []string) bool {
	for p := range cfg.ExposedPorts {
		for _, w := range want {
			if w == p.String() || w == p.Port() {
				return true
			}
		}
	}
	return false
}

// matchesAncestor is true when the container's image is one of refs (by
// reference as given, or by image ID prefix).
func (d *Daemon) matchesAncestor(c *ctr.Container, refs []string) bool {
	for _, ref := range refs {
		if ref == c.ImageName || ref == c.Config.Image || strings.HasPrefix(strings.TrimPrefix(c.Image, "sha256:"), strings.TrimPrefix(ref, "sha256:")) {
			return true
		}
		if img, err := d.resolveContainerImage(d.life.Context(), ref); err == nil && img.ID == c.Image {
			return true
		}
	}
	return false
}

// summary builds c's `docker ps` row. The caller holds c's lock.
func (d *Daemon) summary(c *ctr.Container) *container.Summary {
	// dockerd quotes the arguments that hold a space: sh -c 'sleep 60'.
	cmd := c.Path
	for _, a := range c.Args {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		cmd += " " + a
	}
	s := &container.Summary{
		ID:      c.ID,
		Names:   d.containers.Names(c),
		Image:   c.Config.Image,
		ImageID: c.Image,
		Command: cmd,
		Created: c.Created.Unix(),
		Ports:   portSummaries(c),
		Labels:  c.Config.Labels,
		State:   c.State.Status(),
		Status:  c.State.String(),
		Mounts:  mountPoints(c),
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	s.HostConfig.Annotations = c.HostConfig.Annotations
	if c.State.Health != nil {
		s.Health = &container.HealthSummary{Status: c.State.Health.Status, FailingStreak: c.State.Health.FailingStreak}
	}
	s.NetworkSettings = &container.NetworkSettingsSummary{}
	if c.NetworkSettings != nil {
		s.NetworkSettings.Networks = c.NetworkSettings.Networks
	}
	return s
}

// sizeInput is what containerSize needs, copied under the container's
// lock: the walk itself runs without it, since the container decides how
// many files its writable layer holds and so how long the walk takes.
type sizeInput struct{ upper, image string }

func sizeInputOf(c *ctr.Container) sizeInput {
	return sizeInput{upper: fsDir(c, "upper"), image: c.Image}
}

// containerSize is the size of a container's writable layer and of its
// whole root (writable layer plus image), as ps -s and system df show
// them. The caller must not hold the container's lock.
func (d *Daemon) containerSize(in sizeInput) (rw, rootfs int64) {
	filepath.WalkDir(in.upper, func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			if info, err := de.Info(); err == nil {
				rw += info.Size()
			}
		}
		return nil
	})
	rootfs = rw
	if img, err := d.images.Get(in.image); err == nil {
		rootfs += d.images.Size(img)
	}
	return rw, rootfs
}
