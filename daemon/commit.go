package daemon

import (
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/image"
	refstore "github.com/berthd/berth/image/reference"
	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/containerfs"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

// ContainerCommit answers POST /commit: the container's writable layer
// becomes a new layer on top of its image's, with the container's
// configuration (or the body's) plus the -c changes, merged as dockerd
// merges them.
func (d *Daemon) ContainerCommit(ctx context.Context, cc backend.CommitConfig) (_ string, err error) {
	defer timed(d.metrics.ContainerAction, "commit", &err)()
	c, err := d.containers.Get(cc.Container)
	if err != nil {
		return "", err
	}
	var ref reference.Named
	if cc.Repo != "" {
		if ref, err = refstore.ParseTag(cc.Repo, cc.Tag); err != nil {
			return "", errdefs.InvalidParameter(err)
		}
	}
	c.Lock()
	dead, removing := c.State.Dead, c.State.RemovalInProgress
	running, paused := c.State.Running, c.State.Paused
	c.Unlock()
	switch {
	case dead:
		return "", errdefs.Conflictf("You cannot commit container %s which is Dead", c.ID)
	case removing:
		return "", errdefs.Conflictf("You cannot commit container %s which is being removed", c.ID)
	}
	// Frozen, the container cannot change files while they are read.
	if cc.Pause && running && !paused {
		if err := d.ContainerPause(ctx, c.ID); err == nil {
			defer func() {
				if err := d.ContainerUnpause(context.WithoutCancel(ctx), c.ID); err != nil {
					logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("unpause after commit")
				}
			}()
		}
	}

	c.Lock()
	if c.State.RemovalInProgress || c.State.Dead {
		c.Unlock()
		return "", errdefs.Conflictf("You cannot commit container %s which is being removed", c.ID)
	}
	cfg, err := commitConfig(c.Config, cc.Config, cc.Changes)
	if err != nil {
		c.Unlock()
		return "", err
	}
	opts := image.CommitOptions{
		Parent:    digest.Digest(c.Image),
		Config:    cfg,
		Author:    cc.Author,
		Comment:   cc.Comment,
		CreatedBy: strings.Join(c.Config.Cmd, " "),
	}
	// The writable layer is as large as the container made it: it is read
	// without the lock every docker ps waits for. A removal waits for the
	// read before it deletes the files.
	fs := &d.liveState(c).fsReaders
	fs.Add(1)
	c.Unlock()
	img, err := d.commitLayer(ctx, c, opts)
	fs.Done()
	if err != nil {
		return "", err
	}
	imageRef := ""
	if ref != nil {
		if _, err := d.images.Tag(img, ref); err != nil {
			return "", err
		}
		imageRef = reference.FamiliarString(ref)
	}
	d.logContainerEvent(c, events.ActionCommit, map[string]string{
		"comment":  cc.Comment,
		"imageID":  img.ID.String(),
		"imageRef": imageRef,
	})
	return img.ID.String(), nil
}

// commitLayer streams c's upper directory, overlay whiteouts turned into
// .wh. entries, into the image service. The directory is read from a view
// chrooted into it: the container's symlinks there cannot lead the walk
// to host files.
func (d *Daemon) commitLayer(ctx context.Context, c *ctr.Container, o image.CommitOptions) (*image.Image, error) {
	upper := fsDir(c, "upper")
	held, err := d.images.HeldRootFS(c.ID)
	if err != nil {
		return nil, err
	}
	etc := imageEtc(held)
	skip := func(rel string, fi os.FileInfo) bool { return runtimeStub(rel, fi, etc) }
	v, err := containerfs.Open(func() (*os.File, error) { return openDir(upper) })
	if err != nil {
		return nil, errdefs.System(err)
	}
	defer v.Close()
	pr, pw := io.Pipe()
	err = v.Go(func() {
		pw.CloseWithError(archive.Tar(pw, "/", archive.TarOptions{Overlay: true, Skip: skip}))
	})
	if err != nil {
		return nil, errdefs.System(err)
	}
	img, err := d.images.Commit(ctx, pr, o)
	pr.Close()
	if err != nil {
		return nil, err
	}
	// A container committed into an image (docker commit, a RUN step of a
	// build) makes an image `create` event, as dockerd's commit does.
	attrs := map[string]string{}
	for k, v := range img.Labels() {
		attrs[k] = v
	}
	attrs["name"] = img.ID.String()
	d.events.Log(events.ImageEventType, events.ActionCreate, events.Actor{ID: img.ID.String(), Attributes: attrs})
	return img, nil
}

// runtimeStub reports the files and directories the runtime creates in a
// container's root as mount points for what the daemon provides. dockerd
// keeps them in an init layer under the container's writable layer, so
// they are never part of a commit; here they share the writable layer and
// are left out when they are what the runtime made: an empty file, or a
// directory holding nothing but such stubs (/etc for /etc/hosts, a
// mount point dir that is empty), unless the container made it opaque
// (deleted what was below). So an unchanged container commits no layer,
// as in dockerd. It runs in the view chrooted into the upper directory
// (rel is relative to it, "/" is it). docker commit and the builder's
// RUN steps share it.
func runtimeStub(rel string, fi os.FileInfo, etc dirAttrs) bool {
	switch rel {
	case "etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv", "dev/console", "etc/mtab":
		return fi.Mode().IsRegular() && fi.Size() == 0
	case "etc", "dev", "dev/pts", "dev/shm", "dev/mqueue", "proc", "sys":
		if !fi.IsDir() {
			return false
		}
		// /etc copied up to hold the mount points has the image's
		// attributes; a container that changed them changed /etc.
		if rel == "etc" && !etc.same(fi) {
			return false
		}
		var opq [1]byte
		if n, err := unix.Lgetxattr("/"+rel, "trusted.overlay.opaque", opq[:]); err == nil && n == 1 && opq[0] == 'y' {
			return false
		}
		ents, err := os.ReadDir("/" + rel)
		if err != nil {
			return false
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil || !runtimeStub(rel+"/"+e.Name(), info, etc) {
				return false
			}
		}
		return true
	}
	return false
}

// commitConfig is the new image's configuration: the body's config (or
// the container's), with the changes applied, and what it leaves empty
// filled from the container's, by dockerd's merge rules.
func commitConfig(ctrCfg, body *container.Config, changes []string) (dockerspec.DockerOCIImageConfig, error) {
	base := ctrCfg
	if body != nil {
		base = body
	}
	cfg := toImageConfig(base)
	if err := image.ApplyChanges(&cfg, changes); err != nil {
		return cfg, err
	}
	mergeImageConfigs(&cfg, toImageConfig(ctrCfg))
	return cfg, nil
}

// toImageConfig copies the fields of a container config an image keeps.
func toImageConfig(c *container.Config) dockerspec.DockerOCIImageConfig {
	var ic dockerspec.DockerOCIImageConfig
	if c == nil {
		return ic
	}
	ic.User = c.User
	ic.Env = slices.Clone(c.Env)
	ic.Cmd = slices.Clone(c.Cmd)
	ic.Entrypoint = slices.Clone(c.Entrypoint)
	ic.WorkingDir = c.WorkingDir
	ic.Labels = maps.Clone(c.Labels)
	ic.StopSignal = c.StopSignal
	ic.ArgsEscaped = c.ArgsEscaped
	ic.OnBuild = slices.Clone(c.OnBuild)
	ic.Shell = slices.Clone(c.Shell)
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		ic.Healthcheck = &h
	}
	if len(c.Volumes) > 0 {
		ic.Volumes = maps.Clone(c.Volumes)
	}
	if len(c.ExposedPorts) > 0 {
		ic.ExposedPorts = map[string]struct{}{}
		for p := range c.ExposedPorts {
			ic.ExposedPorts[p.String()] = struct{}{}
		}
	}
	return ic
}

// mergeImageConfigs is dockerd's commit merge: what the user's config
// leaves empty comes from the container's; env, ports, labels and
// volumes are unions with the user's values winning.
func mergeImageConfigs(u *dockerspec.DockerOCIImageConfig, c dockerspec.DockerOCIImageConfig) {
	if u.User == "" {
		u.User = c.User
	}
	if len(u.ExposedPorts) == 0 {
		u.ExposedPorts = c.ExposedPorts
	} else {
		for p := range c.ExposedPorts {
			u.ExposedPorts[p] = struct{}{}
		}
	}
	if len(u.Env) == 0 {
		u.Env = c.Env
	} else {
		for _, e := range c.Env {
			k, _, _ := strings.Cut(e, "=")
			if !slices.ContainsFunc(u.Env, func(x string) bool { xk, _, _ := strings.Cut(x, "="); return xk == k }) {
				u.Env = append(u.Env, e)
			}
		}
	}
	if u.Labels == nil {
		u.Labels = map[string]string{}
	}
	for k, v := range c.Labels {
		if _, ok := u.Labels[k]; !ok {
			u.Labels[k] = v
		}
	}
	if len(u.Entrypoint) == 0 {
		if len(u.Cmd) == 0 {
			u.Cmd = c.Cmd
		}
		if u.Entrypoint == nil {
			u.Entrypoint = c.Entrypoint
		}
	}
	if c.Healthcheck != nil {
		if u.Healthcheck == nil {
			u.Healthcheck = c.Healthcheck
		} else {
			h := u.Healthcheck
			if len(h.Test) == 0 {
				h.Test = c.Healthcheck.Test
			}
			if h.Interval == 0 {
				h.Interval = c.Healthcheck.Interval
			}
			if h.Timeout == 0 {
				h.Timeout = c.Healthcheck.Timeout
			}
			if h.StartPeriod == 0 {
				h.StartPeriod = c.Healthcheck.StartPeriod
			}
			if h.StartInterval == 0 {
				h.StartInterval = c.Healthcheck.StartInterval
			}
			if h.Retries == 0 {
				h.Retries = c.Healthcheck.Retries
			}
		}
	}
	if u.WorkingDir == "" {
		u.WorkingDir = c.WorkingDir
	}
	if len(u.Volumes) == 0 {
		u.Volumes = c.Volumes
	} else {
		for k, v := range c.Volumes {
			u.Volumes[k] = v
		}
	}
	if u.StopSignal == "" {
		u.StopSignal = c.StopSignal
	}
}

// dirAttrs are the attributes of a directory as docker diff and commit
// compare them: mode (with the type bits) and owner.
type dirAttrs struct {
	mode     os.FileMode
	uid, gid uint32
}

func (a dirAttrs) same(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode() == a.mode && st.Uid == a.uid && st.Gid == a.gid
}

// imageEtc returns the attributes /etc has in the image of a container's
// layers: those of the topmost layer that has it, or those the runtime
// gives it when the image has none (root, 0755). An /etc that the runtime
// copied up or made to hold its mount points has them; one the container
// changed does not.
func imageEtc(held image.RootFS) dirAttrs {
	made := dirAttrs{mode: os.ModeDir | 0o755}
	for _, lower := range held.LowerDirs {
		fi, err := os.Lstat(filepath.Join(lower, "etc"))
		if err != nil {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || !fi.IsDir() {
			// A whiteout or something else: the runtime makes one.
			return made
		}
		return dirAttrs{mode: fi.Mode(), uid: st.Uid, gid: st.Gid}
	}
	return made
}
