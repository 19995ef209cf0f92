package daemon

import (
	"context"
	"os"
	"path/filepath"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/berthd/berth/image/distribution"
	"github.com/berthd/berth/pkg/filters"
)

// CertsDirEnv overrides the certs.d directory (tests point it at a private
// one); it wins over --registry-config-dir.
const CertsDirEnv = "BERTH_CERTS_D"

// distribution returns the service with the current configuration
// applied (insecure registries, mirrors and limits are reloadable).
func (d *Daemon) distribution() *distribution.Service {
	cfg := d.Config()
	// One directory serves dockerd's certs.d files and containerd's
	// hosts.toml, for Docker API and CRI pulls alike.
	certs := os.Getenv(CertsDirEnv)
	if certs == "" {
		certs = cfg.RegistryConfigDirPath()
	}
	dc := distribution.Config{
		Insecure:            cfg.InsecureRegistries,
		Mirrors:             cfg.RegistryMirrors,
		CertsDir:            certs,
		MaxDownloads:        cfg.MaxConcurrentDownloads,
		MaxUploads:          cfg.MaxConcurrentUploads,
		MaxDownloadAttempts: cfg.MaxDownloadAttempts,
		UserAgent:           "berth/" + Version,
	}
	// Made on first use, so that start-up does not pay for it.
	d.distOnce.Do(func() {
		d.dist = distribution.New(d.images, filepath.Join(cfg.DataRoot, "image", "distribution"), dc)
		d.dist.SetEvents(func(action events.Action, id string, attrs map[string]string) {
			d.events.Log(events.ImageEventType, action, events.Actor{ID: id, Attributes: attrs})
		})
	})
	d.dist.SetConfig(dc)
	return d.dist
}

// PullImage answers POST /images/create?fromImage=…: progress goes to out
// from a goroutine of its own, and everything written is written before it
// returns.
func (d *Daemon) PullImage(ctx context.Context, img, tag, platform, authHeader string, out func(jsonstream.Message) error) (err error) {
	defer timed(d.metrics.ImageAction, "pull", &err)()
	auth, err := distribution.DecodeAuthHeader(authHeader)
	if err != nil {
		return err
	}
	stream := distribution.NewStream(out)
	defer stream.Close()
	return d.distribution().Pull(ctx, distribution.PullOptions{Image: img, Tag: tag, Platform: platform, Auth: auth, Output: stream.Output()})
}

// PushImage answers POST /images/{name}/push.
func (d *Daemon) PushImage(ctx context.Context, name, tag, authHeader string, out func(jsonstream.Message) error) (err error) {
	defer timed(d.metrics.ImageAction, "push", &err)()
	auth, err := distribution.DecodeAuthHeader(authHeader)
	if err != nil {
		return err
	}
	stream := distribution.NewStream(out)
	defer stream.Close()
	return d.distribution().Push(ctx, distribution.PushOptions{Name: name, Tag: tag, Auth: auth, Output: stream.Output()})
}

// SearchRegistry answers GET /images/search.
func (d *Daemon) SearchRegistry(ctx context.Context, args filters.Args, term string, limit int, authHeader string) ([]registry.SearchResult, error) {
	auth, err := distribution.DecodeAuthHeader(authHeader)
	if err != nil {
		return nil, err
	}
	return d.distribution().Search(ctx, args, term, limit, auth)
}

// DistributionInspect answers GET /distribution/{name}/json.
func (d *Daemon) DistributionInspect(ctx context.Context, name, authHeader string) (*registry.DistributionInspect, error) {
	auth, err := distribution.DecodeAuthHeader(authHeader)
	if err != nil {
		return nil, err
	}
	desc, platforms, err := d.distribution().Inspect(ctx, name, auth)
	if err != nil {
		return nil, err
	}
	return &registry.DistributionInspect{Descriptor: desc, Platforms: platforms}, nil
}

// AuthenticateToRegistry answers POST /auth by logging in to the registry
// with the same endpoints and TLS settings pulls use.
func (d *Daemon) AuthenticateToRegistry(ctx context.Context, auth *registry.AuthConfig) (string, string, error) {
	a, err := distribution.FromAuthConfig(auth.Username, auth.Password, auth.Auth, auth.ServerAddress, auth.IdentityToken, auth.RegistryToken)
	if err != nil {
		return "", "", err
	}
	token, err := d.distribution().Login(ctx, a)
	if err != nil {
		return "", "", err
	}
	return "Login Succeeded", token, nil
}
