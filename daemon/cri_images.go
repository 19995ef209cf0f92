package daemon

import (
	"context"

	"github.com/distribution/reference"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/image"
	"github.com/berthd/berth/image/distribution"
	"github.com/berthd/berth/pkg/errdefs"
)

// The CRI ImageService's engine side: the same image store and pull
// code as the Docker API's, so an image kubelet pulls is in docker
// images and the other way round.

// CRIImages lists every image.
func (d *Daemon) CRIImages(ctx context.Context) ([]backend.CRIImage, error) {
	imgs, err := d.images.Images()
	if err != nil {
		return nil, err
	}
	out := make([]backend.CRIImage, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, d.criImage(img))
	}
	return out, nil
}

// CRIImage finds an image by name, ID or digest reference; an unknown
// one is a not-found error.
func (d *Daemon) CRIImage(ctx context.Context, ref string) (*backend.CRIImage, error) {
	img, err := d.images.Get(ref)
	if err != nil {
		return nil, err
	}
	ci := d.criImage(img)
	return &ci, nil
}

func (d *Daemon) criImage(img *image.Image) backend.CRIImage {
	ci := backend.CRIImage{
		ID:          img.ID.String(),
		RepoTags:    []string{},
		RepoDigests: []string{},
		Size:        uint64(d.images.Size(img)),
		User:        img.Config.Config.User,
		Config:      img.RawConfig,
	}
	// Full names, not the familiar ones docker images prints: kubelet
	// and critest compare them with what the pod spec said after
	// normalising it (docker.io/library/busybox:latest).
	for _, r := range d.images.References(img.ID) {
		if _, ok := r.(reference.Canonical); ok {
			ci.RepoDigests = append(ci.RepoDigests, r.String())
		} else {
			ci.RepoTags = append(ci.RepoTags, r.String())
		}
	}
	return ci
}

// CRIPullImage pulls ref (by tag, :latest when it has none, or by
// digest) through the daemon's registry hosts and answers the image ID.
func (d *Daemon) CRIPullImage(ctx context.Context, ref string, auth backend.RegistryAuth) (_ string, err error) {
	defer timed(d.metrics.ImageAction, "pull", &err)()
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", errdefs.InvalidParameter(err)
	}
	named = reference.TagNameOnly(named)
	a, err := distribution.FromAuthConfig(auth.Username, auth.Password, auth.Auth, auth.ServerAddress, auth.IdentityToken, auth.RegistryToken)
	if err != nil {
		return "", err
	}
	if err := d.distribution().Pull(ctx, distribution.PullOptions{Image: named.String(), Auth: a}); err != nil {
		return "", err
	}
	img, err := d.images.Get(named.String())
	if err != nil {
		return "", err
	}
	return img.ID.String(), nil
}

// CRIRemoveImage removes an image with all its names, as containerd's
// RemoveImage does, whichever of them (or its ID or a digest reference)
// ref is. An unknown image is already removed.
func (d *Daemon) CRIRemoveImage(ctx context.Context, ref string) error {
	img, err := d.images.Get(ref)
	if errdefs.Is(err, errdefs.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// By ID and forced: every name goes (docker rmi NAME would only
	// untag one).
	_, err = d.ImageDelete(ctx, img.ID.String(), true, true)
	if errdefs.Is(err, errdefs.Conflict) {
		// A running container (or a child image) keeps the image. As
		// containerd, which deletes an image's references whoever uses
		// its content, the names go all the same and the call succeeds:
		// forced, each untag leaves the image to its user, dangling.
		for _, r := range d.images.References(img.ID) {
			if _, err := d.ImageDelete(ctx, r.String(), true, true); err != nil && !errdefs.Is(err, errdefs.NotFound) {
				return err
			}
		}
		return nil
	}
	if errdefs.Is(err, errdefs.NotFound) {
		return nil
	}
	return err
}
