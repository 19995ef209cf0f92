package daemon

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/image"
	"github.com/berthd/berth/image/build"
	"github.com/berthd/berth/image/layer"
	"github.com/berthd/berth/metrics"
	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

// buildStates holds each daemon's builder state (made on first use).
var buildStates sync.Map

type buildState struct {
	once  sync.Once
	cache *build.Cache
}

func (d *Daemon) buildRoot() string { return filepath.Join(d.cfg.DataRoot, "builder") }

// buildCache opens the step cache on first use. The first use also
// clears what builds of an earlier run left in the builder's tmp (the
// contexts are removed after the response, so a daemon that stops right
// then leaves them); no build has started yet, since every build waits
// for this.
func (d *Daemon) buildCache() *build.Cache {
	v, _ := buildStates.LoadOrStore(d, &buildState{})
	st := v.(*buildState)
	st.once.Do(func() {
		tmp := filepath.Join(d.buildRoot(), "tmp")
		if ents, err := os.ReadDir(tmp); err == nil {
			for _, e := range ents {
				p := filepath.Join(tmp, e.Name())
				// A fill- or ro- directory may still hold the overlay a
				// crashed step mounted: unmount before removing, so the
				// removal cannot reach into an image's layers.
				unix.Unmount(filepath.Join(p, "merged"), unix.MNT_DETACH)
				unix.Unmount(p, unix.MNT_DETACH)
				os.RemoveAll(p)
			}
		}
		st.cache = build.OpenCache(filepath.Join(d.buildRoot(), "cache.json"))
	})
	return st.cache
}

// stepError gives the router the failed RUN's exit code.
type stepError struct{ *build.StepError }

func (e stepError) ExitCode() int { return e.Code }

// Build answers POST /build: it unpacks the context and runs the
// classic builder with this daemon as its backend.
func (d *Daemon) Build(ctx context.Context, body io.Reader, req backend.BuildRequest, out backend.BuildOutput) (string, error) {
	cache := d.buildCache()
	tmp := filepath.Join(d.buildRoot(), "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return "", errdefs.System(err)
	}
	bctx, err := build.ReadContext(ctx, tmp, body, req.Remote, req.Dockerfile)
	if err != nil {
		return "", err
	}
	// The context is removed after the response: the client need not
	// wait for it.
	defer func() { go bctx.Close() }()
	opts := build.Options{
		Tags: req.Tags, BuildArgs: req.BuildArgs, Labels: req.Labels, NoCache: req.NoCache,
		CacheFrom: req.CacheFrom, Target: req.Target, Remove: req.Remove, ForceRemove: req.ForceRemove,
		Pull: req.Pull, Squash: req.Squash, Platform: req.Platform, HostConfig: req.HostConfig,
	}
	b := build.New(&buildBackend{d: d}, cache, bctx, opts, out)
	d.metrics.BuildTriggered()
	id, err := b.Build(ctx)
	if err != nil {
		reason := metrics.BuildErrorProcessingCommands
		if ctx.Err() != nil {
			reason = metrics.BuildCanceled
		}
		d.metrics.BuildFailed(reason)
	}
	var se *build.StepError
	if errors.As(err, &se) {
		return id, stepError{se}
	}
	return id, err
}

// buildBackend is the builder's view of the daemon.
type buildBackend struct{ d *Daemon }

func toBuildImage(img *image.Image) *build.Image {
	bi := &build.Image{
		ID:     img.ID.String(),
		Config: img.Config.Config,
		Platform: ocispec.Platform{
			OS: img.Config.OS, Architecture: img.Config.Architecture, Variant: img.Config.Variant,
		},
		Parent:  img.Parent.String(),
		History: img.Config.History,
	}
	for _, d := range img.DiffIDs {
		bi.DiffIDs = append(bi.DiffIDs, d.String())
	}
	return bi
}

// RestoreCached registers the image that stands for a step --cache-from
// matched, as dockerd's imageCache.restoreCachedImage does: parent's
// history and layers plus target's history entry for the step and its
// layer (target's own, already in the layer store), with target's author
// and the entry's creation time. Its config is the step's config (dockerd
// stores the cache probe's, whose Cmd is the step's "#(nop)" text; no
// client sees the difference, as the build's last image is target
// itself).
func (b *buildBackend) RestoreCached(ctx context.Context, parentID, targetID string, config dockerspec.DockerOCIImageConfig) (string, error) {
	d := b.d
	target, err := d.images.Get(targetID)
	if err != nil {
		return "", err
	}
	var history []ocispec.History
	var diffIDs []digest.Digest
	var parentDigest digest.Digest
	if parentID != "" {
		parent, err := d.images.Get(parentID)
		if err != nil {
			return "", err
		}
		history = append(history, parent.Config.History...)
		diffIDs = append(diffIDs, parent.DiffIDs...)
		parentDigest = parent.ID
	}
	n := len(history)
	if n >= len(target.Config.History) {
		return "", errdefs.InvalidParameterf("cache source %s has no history entry %d", targetID, n)
	}
	entry := target.Config.History[n]
	if !entry.EmptyLayer {
		ix := 0
		for _, h := range target.Config.History[:n] {
			if !h.EmptyLayer {
				ix++
			}
		}
		if ix >= len(target.DiffIDs) {
			return "", errdefs.InvalidParameterf("cache source %s has no layer for history entry %d", targetID, n)
		}
		diffIDs = append(diffIDs, target.DiffIDs[ix])
	}
	layers, err := d.images.Layers()
	if err != nil {
		return "", err
	}
	chain := layer.ChainID(diffIDs)
	if chain != "" {
		if err := layers.Acquire(chain); err != nil {
			return "", err
		}
	}
	cfg := &image.Config{DockerVersion: image.Version}
	cfg.Created = entry.Created
	cfg.Author = target.Config.Author
	cfg.Platform = target.Config.Platform
	cfg.Config = config
	if cfg.RootFS.DiffIDs = diffIDs; cfg.RootFS.DiffIDs == nil {
		cfg.RootFS.DiffIDs = []digest.Digest{}
	}
	cfg.RootFS.Type = "layers"
	cfg.History = append(history, entry)
	raw, err := json.Marshal(cfg)
	if err == nil {
		var img *image.Image
		if img, _, err = d.images.Register(raw, parentDigest); err == nil {
			return img.ID.String(), nil
		}
	}
	if chain != "" {
		layers.Release(chain)
	}
	return "", err
}

func (b *buildBackend) GetImage(ctx context.Context, ref string) (*build.Image, error) {
	img, err := b.d.images.Get(ref)
	if err != nil {
		return nil, err
	}
	return toBuildImage(img), nil
}

func (b *buildBackend) PullImage(ctx context.Context, ref, platform string, out func(jsonstream.Message) error) (*build.Image, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.InvalidParameterf("invalid reference format")
	}
	named = reference.TagNameOnly(named)
	tag := ""
	name := reference.FamiliarName(named)
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	if c, ok := named.(reference.Canonical); ok {
		tag = c.Digest().String()
	}
	if err := b.d.PullImage(ctx, name, tag, platform, "", out); err != nil {
		return nil, err
	}
	return b.GetImage(ctx, named.String())
}

func (b *buildBackend) CreateContainer(ctx context.Context, cfg *container.Config, hc *container.HostConfig) (string, error) {
	resp, err := b.d.ContainerCreate(ctx, backend.ContainerCreateConfig{Config: cfg, HostConfig: hc})
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

// attachConn is the attach side of a RUN step: output arrives through
// Write in stdcopy frames; there is no stdin, so Read waits for Close.
type attachConn struct {
	w      io.WriteCloser
	closed chan struct{}
	once   sync.Once
}

func (c *attachConn) Read(p []byte) (int, error)  { <-c.closed; return 0, io.EOF }
func (c *attachConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *attachConn) Close() error {
	c.once.Do(func() { close(c.closed); c.w.Close() })
	return nil
}

// demux copies stdcopy frames to stdout and stderr.
func demux(r io.Reader, stdout, stderr io.Writer) {
	hdr := make([]byte, 8)
	buf := make([]byte, 32<<10)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			io.Copy(io.Discard, r)
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[4:]))
		w := stdout
		if hdr[0] == 2 {
			w = stderr
		}
		for n > 0 {
			k := min(n, len(buf))
			if _, err := io.ReadFull(r, buf[:k]); err != nil {
				io.Copy(io.Discard, r)
				return
			}
			w.Write(buf[:k])
			n -= k
		}
	}
}

func (b *buildBackend) RunContainer(ctx context.Context, id string, stdout, stderr io.Writer) (int, error) {
	pr, pw := io.Pipe()
	conn := &attachConn{w: pw, closed: make(chan struct{})}
	attached := make(chan struct{})
	attachDone := make(chan error, 1)
	demuxed := make(chan struct{})
	go func() { demux(pr, stdout, stderr); close(demuxed) }()
	go func() {
		err := b.d.ContainerAttach(ctx, id, backend.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true},
			func(bool) (io.ReadWriteCloser, error) { close(attached); return conn, nil })
		conn.Close()
		attachDone <- err
	}()
	select {
	case <-attached:
	case err := <-attachDone:
		return 0, err
	}
	if err := b.d.ContainerStart(ctx, id); err != nil {
		conn.Close()
		<-attachDone
		return 0, err
	}
	resp, err := b.d.ContainerWait(ctx, id, container.WaitConditionNotRunning, func() {})
	if err != nil {
		conn.Close()
		return 0, err
	}
	select {
	case <-attachDone:
	case <-time.After(10 * time.Second):
		conn.Close()
	}
	<-demuxed
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	return int(resp.StatusCode), nil
}

func (b *buildBackend) RemoveContainer(ctx context.Context, id string) error {
	return b.d.ContainerRm(ctx, id, backend.ContainerRmConfig{ForceRemove: true, RemoveVolume: true})
}

func (b *buildBackend) TagImage(ctx context.Context, id, ref string) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return errdefs.InvalidParameterf("invalid reference format")
	}
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	return b.d.images.TagName(id, reference.FamiliarName(named), tag)
}

// WithImageRoot gives fn the image's merged files read-only: a layer
// directory itself for a one-layer image, else an overlay of the layers
// (the image is held for the duration).
func (b *buildBackend) WithImageRoot(ctx context.Context, id string, fn func(root string) error) error {
	owner := "build-" + stringid.GenerateRandomID()[:24]
	rootfs, err := b.d.images.Hold(owner, digest.Digest(id))
	if err != nil {
		return err
	}
	defer b.d.images.Release(owner)
	switch len(rootfs.LowerDirs) {
	case 0:
		dir, err := os.MkdirTemp(filepath.Join(b.d.buildRoot(), "tmp"), "empty-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		return fn(dir)
	case 1:
		return fn(rootfs.LowerDirs[0])
	}
	dir, err := os.MkdirTemp(filepath.Join(b.d.buildRoot(), "tmp"), "ro-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := rootfs.Mount(dir, "", ""); err != nil {
		return errdefs.System(err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	return fn(dir)
}

// Commit makes a step's image. A RUN step's container is committed as
// `docker commit` commits one (commitLayer: its writable layer read from
// a view chrooted into it, the runtime's stubs left out, through the
// image service's commit); files a COPY, ADD or WORKDIR wrote over the
// parent go through the same image service commit as a layer tar of the
// overlay's upper directory. Only what that commit does not take stays
// here: a step with no layer at all (a config-only step, marked
// empty_layer as dockerd marks it) and files written on scratch (no
// parent image).
func (b *buildBackend) Commit(ctx context.Context, o build.CommitOptions) (string, error) {
	d := b.d
	co := image.CommitOptions{Parent: digest.Digest(o.Parent), Config: o.Config, Author: o.Author, CreatedBy: o.CreatedBy}
	if o.ContainerID != "" {
		c, err := d.containers.Get(o.ContainerID)
		if err != nil {
			return "", err
		}
		// The step's layer is as large as the step made it: it is read
		// without the lock that every docker ps waits for. The step's
		// container is the builder's, but docker rm and container prune
		// can reach it: as for docker commit, a removal waits for the
		// read before it deletes the files.
		c.Lock()
		if c.State.RemovalInProgress || c.State.Dead {
			c.Unlock()
			return "", errdefs.Conflictf("You cannot commit container %s which is being removed", c.ID)
		}
		fs := &d.liveState(c).fsReaders
		fs.Add(1)
		c.Unlock()
		img, err := d.commitLayer(ctx, c, co)
		fs.Done()
		if err != nil {
			return "", err
		}
		return img.ID.String(), nil
	}
	if o.Fill == nil {
		return b.register(ctx, o, "")
	}
	tmpRoot := filepath.Join(d.buildRoot(), "tmp")
	os.MkdirAll(tmpRoot, 0o700)
	dir, err := os.MkdirTemp(tmpRoot, "fill-")
	if err != nil {
		return "", errdefs.System(err)
	}
	defer os.RemoveAll(dir)
	upper := filepath.Join(dir, "upper")
	work := filepath.Join(dir, "work")
	merged := filepath.Join(dir, "merged")
	for _, p := range []string{upper, work, merged} {
		if err := os.Mkdir(p, 0o755); err != nil {
			return "", errdefs.System(err)
		}
	}
	if o.Parent == "" {
		if err := o.Fill(upper); err != nil {
			return "", err
		}
		return b.register(ctx, o, upper)
	}
	parent, err := d.images.Get(o.Parent)
	if err != nil {
		return "", err
	}
	if parent.TopChain != "" {
		owner := "build-" + stringid.GenerateRandomID()[:24]
		rootfs, err := d.images.Hold(owner, parent.ID)
		if err != nil {
			return "", err
		}
		defer d.images.Release(owner)
		if err := rootfs.Mount(merged, upper, work); err != nil {
			return "", errdefs.System(err)
		}
		err = o.Fill(merged)
		unix.Unmount(merged, unix.MNT_DETACH)
		if err != nil {
			return "", err
		}
	} else if err := o.Fill(upper); err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.Tar(pw, upper, archive.TarOptions{Overlay: true})) }()
	img, err := d.images.Commit(ctx, pr, co)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return "", err
	}
	return img.ID.String(), nil
}

// emptyTarDiffID is the diff ID of a layer tar with no entries.
const emptyTarDiffID = digest.Digest("sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")

// register makes the images the image service's commit does not: one on
// o.Parent with no layer (upper ""), or one on scratch whose layer is
// upper (none if upper is empty, as in dockerd, where an empty diff adds
// no layer).
func (b *buildBackend) register(ctx context.Context, o build.CommitOptions, upper string) (string, error) {
	d := b.d
	var parent *image.Image
	if o.Parent != "" {
		p, err := d.images.Get(o.Parent)
		if err != nil {
			return "", err
		}
		parent = p
	}
	layers, err := d.images.Layers()
	if err != nil {
		return "", err
	}
	var parentChain digest.Digest
	var diffIDs []digest.Digest
	var history []ocispec.History
	plat := o.Platform
	if parent != nil {
		parentChain = parent.TopChain
		diffIDs = append(diffIDs, parent.DiffIDs...)
		history = append(history, parent.Config.History...)
		plat = ocispec.Platform{OS: parent.Config.OS, Architecture: parent.Config.Architecture, Variant: parent.Config.Variant}
	}
	if plat.OS == "" {
		plat.OS = "linux"
	}
	if plat.Architecture == "" {
		plat.Architecture = runtime.GOARCH
	}
	empty := true
	chain := parentChain
	if upper != "" {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(archive.Tar(pw, upper, archive.TarOptions{Overlay: true})) }()
		p, err := layers.Unpack(ctx, pr)
		pr.CloseWithError(io.ErrClosedPipe)
		if err != nil {
			return "", errdefs.System(err)
		}
		if p.Result.DiffID == emptyTarDiffID {
			p.Discard()
		} else {
			empty = false
			if chain, err = layers.Commit(p, parentChain); err != nil {
				p.Discard()
				return "", errdefs.System(err)
			}
			diffIDs = append(diffIDs, p.Result.DiffID)
		}
	}
	if empty && chain != "" {
		if err := layers.Acquire(chain); err != nil {
			return "", err
		}
	}
	created := time.Now().UTC()
	cfg := &image.Config{DockerVersion: image.Version}
	cfg.Created = &created
	cfg.Author = o.Author
	cfg.Platform = plat
	cfg.Config = o.Config
	if cfg.RootFS.DiffIDs = diffIDs; cfg.RootFS.DiffIDs == nil {
		cfg.RootFS.DiffIDs = []digest.Digest{}
	}
	cfg.RootFS.Type = "layers"
	cfg.History = append(history, ocispec.History{Created: &created, CreatedBy: o.CreatedBy, Author: o.Author, EmptyLayer: empty})
	raw, err := json.Marshal(cfg)
	if err != nil {
		if chain != "" {
			layers.Release(chain)
		}
		return "", err
	}
	var parentID digest.Digest
	if parent != nil {
		parentID = parent.ID
	}
	img, _, err := d.images.Register(raw, parentID)
	if err != nil {
		if chain != "" {
			layers.Release(chain)
		}
		return "", err
	}
	return img.ID.String(), nil
}
