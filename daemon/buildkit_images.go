package daemon

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/image/buildkit/imagesource"
	"github.com/berthd/berth/image/buildkit/layerprogress"
	"github.com/berthd/berth/image/buildkit/mobyexporter"
	"github.com/berthd/berth/image/distribution"
	"github.com/berthd/berth/image/layer"
	"github.com/berthd/berth/image/unpack"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/registryauth"
)

// buildkitImages is berth's image store as BuildKit's image source
// (imagesource.Images: FROM) and moby exporter (mobyexporter.Images: -t,
// and mobyexporter.Pusher: --push) see it.
type buildkitImages struct {
	images *image.Service
	// pull is the daemon's puller; a function because the distribution
	// service is made on first use with the current configuration.
	pull func() *distribution.Service
}

var (
	_ imagesource.Images  = (*buildkitImages)(nil)
	_ mobyexporter.Images = (*buildkitImages)(nil)
	_ mobyexporter.Pusher = (*buildkitImages)(nil)
)

// buildkitImages returns the bridge daemon/buildkit.go hands to
// imagesource.New and mobyexporter.New.
func (d *Daemon) buildkitImages() *buildkitImages {
	return &buildkitImages{images: d.images, pull: d.distribution}
}

// Lookup finds an image by name only, as dockerd's builder does: a FROM
// that looks like an ID prefix is a repository name to BuildKit.
func (b *buildkitImages) Lookup(ctx context.Context, ref reference.Named) (*imagesource.Image, error) {
	id, ok := b.images.Lookup(ref)
	if !ok {
		return nil, errdefs.NotFoundf("No such image: %s", reference.FamiliarString(ref))
	}
	img, err := b.images.Get(id.String())
	if err != nil {
		return nil, err
	}
	return b.sourceImage(img)
}

// Pull pulls through berth's own puller, with the credentials the build
// client's session gives for the registry.
func (b *buildkitImages) Pull(ctx context.Context, ref reference.Named, p ocispec.Platform, creds imagesource.Credentials, report func(layerprogress.Step)) (*imagesource.Image, digest.Digest, error) {
	plat := distribution.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, Explicit: true}
	img, manifest, err := b.pull().PullImage(ctx, ref, plat, sessionAuth(ref, creds), layerLines(report))
	if err != nil {
		return nil, "", err
	}
	si, err := b.sourceImage(img)
	return si, manifest, err
}

// Push pushes a built image for `--push`, as `docker push` would.
func (b *buildkitImages) Push(ctx context.Context, ref reference.Named, creds mobyexporter.Credentials, report func(layerprogress.Step)) error {
	tagged, ok := ref.(reference.NamedTagged)
	if !ok {
		return errdefs.InvalidParameterf("cannot push %s: it has no tag", reference.FamiliarString(ref))
	}
	return b.pull().Push(ctx, distribution.PushOptions{Name: tagged.Name(), Tag: tagged.Tag(), Auth: sessionAuth(ref, creds), Output: layerLines(report)})
}

// sessionAuth asks the build client's session for the credentials of
// ref's registry; without any, the registry is used anonymously.
func sessionAuth(ref reference.Named, creds func(host string) (string, string, error)) distribution.Auth {
	var auth distribution.Auth
	if creds == nil {
		return auth
	}
	host := reference.Domain(ref)
	if host == "docker.io" {
		// The host BuildKit's resolver asks the session for; the docker
		// CLI maps it to its Docker Hub entry.
		host = "registry-1.docker.io"
	}
	user, secret, err := creds(host)
	if err != nil {
		logrus.WithField("image", ref.String()).WithError(err).Debug("no registry credentials from the build session")
		return auth
	}
	if user == "" && secret == "" {
		return auth
	}
	auth.Credentials = registryauth.Credentials{Username: user, Password: secret, ServerAddress: reference.Domain(ref)}
	if user == "" {
		// No user: the secret is an identity token, which stands in for
		// the password with token services.
		auth.IdentityToken = secret
	}
	return auth
}

// layerLines passes on the per-layer lines of a pull or push ("Pulling
// from" and the like name the repository, not a layer).
func layerLines(report func(layerprogress.Step)) distribution.Output {
	return func(m jsonstream.Message) {
		if report == nil || m.ID == "" || strings.HasPrefix(m.Status, "Pulling from") {
			return
		}
		s := layerprogress.Step{ID: m.ID, Action: m.Status}
		if m.Progress != nil {
			s.Current, s.Total = m.Progress.Current, m.Progress.Total
		}
		report(s)
	}
}

func (b *buildkitImages) sourceImage(img *image.Image) (*imagesource.Image, error) {
	out := &imagesource.Image{ID: img.ID, Config: img.RawConfig}
	if img.TopChain == "" {
		return out, nil
	}
	ls, err := b.images.Layers()
	if err != nil {
		return nil, err
	}
	stack, err := ls.Stack(img.TopChain)
	if err != nil {
		return nil, err
	}
	for i := len(stack) - 1; i >= 0; i-- {
		out.Layers = append(out.Layers, imagesource.Layer{DiffID: stack[i].DiffID, TarSize: stack[i].TarSize})
	}
	return out, nil
}

// OpenLayer streams a layer's original tar; the layer is held until the
// reader is closed, so removing its image meanwhile does not cut it.
func (b *buildkitImages) OpenLayer(ctx context.Context, chain digest.Digest) (io.ReadCloser, error) {
	ls, err := b.images.Layers()
	if err != nil {
		return nil, err
	}
	if err := ls.Acquire(chain); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer ls.Release(chain)
		pw.CloseWithError(ls.WriteTar(chain, pw))
	}()
	return pr, nil
}

// Create registers a built image. Layers the store has (the base image's,
// or an earlier build's) are shared by chain ID; only the others are read
// and unpacked, and a layer whose diff ID nobody knew yet gets it here.
func (b *buildkitImages) Create(ctx context.Context, layers []mobyexporter.Layer, makeConfig func([]digest.Digest) ([]byte, error)) (digest.Digest, []byte, error) {
	ls, err := b.images.Layers()
	if err != nil {
		return "", nil, err
	}
	var held, diffIDs []digest.Digest
	defer func() {
		for _, c := range held {
			ls.Release(c)
		}
	}()
	parent := digest.Digest("")
	for _, l := range layers {
		if l.DiffID != "" {
			chain := identity.ChainID(append(append([]digest.Digest{}, diffIDs...), l.DiffID))
			if ls.Acquire(chain) == nil {
				held, diffIDs, parent = append(held, chain), append(diffIDs, l.DiffID), chain
				continue
			}
		}
		chain, diffID, err := b.storeLayer(ctx, ls, l, parent)
		if err != nil {
			return "", nil, err
		}
		held, diffIDs, parent = append(held, chain), append(diffIDs, diffID), chain
	}
	config, err := makeConfig(diffIDs)
	if err != nil {
		return "", nil, err
	}
	img, _, err := b.images.Register(config, "")
	if err != nil {
		return "", nil, err
	}
	if len(held) > 0 {
		// The reference on the top layer passed to the image.
		held = held[:len(held)-1]
	}
	// dockerd logs create for every export, a cached rebuild's too.
	b.images.LogEvent(events.ActionCreate, img, img.ID.String())
	return img.ID, config, nil
}

// storeLayer unpacks a layer on parent and returns its chain and diff ID,
// which must be l.DiffID when that is known.
func (b *buildkitImages) storeLayer(ctx context.Context, ls *layer.Store, l mobyexporter.Layer, parent digest.Digest) (digest.Digest, digest.Digest, error) {
	rc, err := l.Open(ctx)
	if err != nil {
		return "", "", err
	}
	defer rc.Close()
	dec, _, err := unpack.Decompress(rc)
	if err != nil {
		return "", "", fmt.Errorf("layer %s: %w", l.DiffID, err)
	}
	defer dec.Close()
	p, err := ls.Unpack(ctx, dec)
	if err != nil {
		return "", "", fmt.Errorf("layer %s: %w", l.DiffID, err)
	}
	if l.DiffID != "" && p.Result.DiffID != l.DiffID {
		p.Discard()
		return "", "", errdefs.System(fmt.Errorf("layer %s: its tar has diff ID %s", l.DiffID, p.Result.DiffID))
	}
	chain, err := ls.Commit(p, parent)
	if err != nil {
		p.Discard()
		return "", "", err
	}
	return chain, p.Result.DiffID, nil
}

// Tag names a built image (a tag event, as dockerd logs for each -t).
func (b *buildkitImages) Tag(ctx context.Context, id digest.Digest, ref reference.Named) error {
	img, err := b.images.Get(id.String())
	if err != nil {
		return err
	}
	_, err = b.images.Tag(img, ref)
	return err
}
