package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/image"
	"github.com/berthd/berth/image/tarexport"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

// newImageService builds the image service on DATA_ROOT/image and starts
// loading it in the background, so that start-up does not wait for it.
func (d *Daemon) newImageService() *image.Service {
	image.Version = Version
	svc := image.New(filepath.Join(d.cfg.DataRoot, "image"))
	svc.SetEvents(func(action events.Action, id string, attrs map[string]string) {
		d.events.Log(events.ImageEventType, action, events.Actor{ID: id, Attributes: attrs})
	})
	svc.SetUsage(d.imageUsers)
	svc.Start()
	return svc
}

// imageUsers maps image IDs to the containers created from them, for the
// conflicts `docker rmi` reports and the counts of `docker system df`.
func (d *Daemon) imageUsers() map[digest.Digest][]image.Usage {
	if d.containers == nil {
		return nil
	}
	out := map[digest.Digest][]image.Usage{}
	for _, c := range d.containers.List() {
		c.Lock()
		id, running := digest.Digest(c.Image), c.State != nil && c.State.IsRunning()
		mps, _ := containerVolumeMounts(c)
		c.Unlock()
		out[id] = append(out[id], image.Usage{ContainerID: c.ID, Running: running})
		for _, m := range imageMountImages(mps) {
			out[m] = append(out[m], image.Usage{ContainerID: c.ID, Running: running, Mount: true})
		}
	}
	return out
}

// formatPlatform writes a platform as containerd's FormatAll does:
// os[(osversion)]/arch[/variant].
func formatPlatform(p ocispec.Platform) string {
	s := p.OS
	if p.OSVersion != "" {
		s += "(" + p.OSVersion + ")"
	}
	s += "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ImageService is the image manager other managers (containers) use.
func (d *Daemon) ImageService() *image.Service { return d.images }

// Images answers GET /images/json.
func (d *Daemon) Images(ctx context.Context, opts backend.ImageListOptions) ([]*imagetypes.Summary, error) {
	return d.images.List(image.ListOptions{All: opts.All, SharedSize: opts.SharedSize, ContainerCount: opts.ContainerCount, Filters: opts.Filters})
}

// ImageInspect answers GET /images/{name}/json.
func (d *Daemon) ImageInspect(ctx context.Context, name string, opts backend.ImageInspectOptions) (*backend.ImageInspectResponse, error) {
	resp, legacy, err := d.images.Inspect(name)
	if err != nil {
		return nil, err
	}
	if p := opts.Platform; p != nil {
		// One platform per image: another platform's is not here.
		img, err := d.images.Get(name)
		if err != nil {
			return nil, err
		}
		want := formatPlatform(*p)
		if matchPlatform(name, img, want) != nil {
			shown := name
			if ref, err := reference.ParseNormalizedNamed(name); err == nil {
				shown = reference.FamiliarString(ref)
			}
			have := formatPlatform(ocispec.Platform{OS: resp.Os, OSVersion: resp.OsVersion, Architecture: resp.Architecture, Variant: resp.Variant})
			return nil, errdefs.NotFoundf("image with reference %s was found but its platform (%s) does not match the specified platform (%s)", shown, have, want)
		}
	}
	return &backend.ImageInspectResponse{InspectResponse: resp, Parent: legacy.Parent, DockerVersion: legacy.DockerVersion}, nil
}

// ImageHistory answers GET /images/{name}/history.
func (d *Daemon) ImageHistory(ctx context.Context, name string) (_ []*imagetypes.HistoryResponseItem, err error) {
	defer timed(d.metrics.ImageAction, "history", &err)()
	return d.images.History(name)
}

// TagImage answers POST /images/{name}/tag.
func (d *Daemon) TagImage(ctx context.Context, name, repo, tag string) error {
	return d.images.TagName(name, repo, tag)
}

// ImageDelete answers DELETE /images/{name}.
func (d *Daemon) ImageDelete(ctx context.Context, name string, force, prune bool) (_ []imagetypes.DeleteResponse, err error) {
	defer timed(d.metrics.ImageAction, "delete", &err)()
	return d.images.Delete(name, force, prune)
}

// ImagesPrune answers POST /images/prune.
func (d *Daemon) ImagesPrune(ctx context.Context, f filters.Args) (*imagetypes.PruneReport, error) {
	return d.images.Prune(f)
}

// LoadImage answers POST /images/load. Like dockerd, a quiet load reports
// only the images it loaded, not the layers' progress.
func (d *Daemon) LoadImage(ctx context.Context, r io.Reader, quiet bool, out backend.LoadOutput) error {
	o := tarexport.Output{Line: out.Line}
	if !quiet {
		o.Progress = out.Progress
	}
	return tarexport.Load(ctx, d.images, r, o)
}

// PrepareExport answers GET /images/get and /images/{name}/get.
func (d *Daemon) PrepareExport(ctx context.Context, names []string) (func(io.Writer) error, error) {
	items, err := tarexport.Resolve(d.images, names)
	if err != nil {
		return nil, err
	}
	return func(w io.Writer) error { return tarexport.Save(ctx, d.images, items, w) }, nil
}

// ImportImage answers POST /images/create?fromSrc=-.
func (d *Daemon) ImportImage(ctx context.Context, r io.Reader, opts backend.ImageImportOptions) (string, error) {
	id, err := d.images.Import(ctx, r, image.ImportOptions{
		Repo: opts.Repo, Tag: opts.Tag, Message: opts.Message, Changes: opts.Changes, Platform: opts.Platform,
	})
	return id.String(), err
}

// OpenImportURL fetches the tarball of POST /images/create?fromSrc=URL, as
// dockerd does: a source without a scheme is taken as http://, and the
// server's refusal keeps its class (a 404 is not found, a 400 a bad
// parameter). The caller closes the body.
func (d *Daemon) OpenImportURL(ctx context.Context, src string) (io.ReadCloser, string, error) {
	if !strings.Contains(src, "://") {
		src = "http://" + src
	}
	u, err := url.Parse(src)
	if err != nil {
		return nil, "", errdefs.InvalidParameter(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), http.NoBody)
	if err != nil {
		return nil, "", errdefs.InvalidParameter(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}).Do(req)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && !dnsErr.IsTimeout {
			return nil, "", errdefs.NotFound(err)
		}
		return nil, "", errdefs.System(err)
	}
	if resp.StatusCode < http.StatusBadRequest {
		return resp.Body, u.String(), nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	msg := fmt.Errorf("failed to GET %s with status %s: %s", u, resp.Status, bytes.TrimSpace(body))
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, "", errdefs.NotFound(msg)
	case http.StatusBadRequest:
		return nil, "", errdefs.InvalidParameter(msg)
	case http.StatusUnauthorized:
		return nil, "", errdefs.Unauthorized(msg)
	case http.StatusForbidden:
		return nil, "", errdefs.Forbidden(msg)
	}
	return nil, "", errdefs.System(msg)
}
