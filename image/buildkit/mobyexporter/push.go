package mobyexporter

import (
	"context"
	"errors"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth"
	"github.com/moby/buildkit/util/progress"

	"github.com/berthd/berth/image/buildkit/layerprogress"
	"github.com/berthd/berth/pkg/errdefs"
)

// Pusher is what `push=true` needs from the image store: buildx's docker
// driver leaves the push of `--push` to the exporter when the engine's
// worker reports a snapshotter (as berth's does), as dockerd's containerd
// image store does.
type Pusher interface {
	// Push pushes the image ref names to its registry, as `docker push`
	// does, reporting each layer's steps.
	Push(ctx context.Context, ref reference.Named, creds Credentials, report func(layerprogress.Step)) error
}

// Credentials answers the registry credentials for a host.
type Credentials func(host string) (user, secret string, err error)

// push pushes every name, with the build client's registry credentials.
func (i *instance) pushAll(ctx context.Context, sessionID string) error {
	p, ok := i.exp.opt.Images.(Pusher)
	if !ok {
		return errdefs.NotImplemented(errors.New("pushing from the moby exporter is not supported by this image store"))
	}
	var creds Credentials
	if sm := i.exp.opt.SessionManager; sm != nil && sessionID != "" {
		get := auth.CredentialsFunc(ctx, sm, session.NewGroup(sessionID))
		creds = func(host string) (string, string, error) {
			_, user, secret, err := get(host)
			return user, secret, err
		}
	}
	for _, n := range i.names {
		ref := reference.TagNameOnly(n)
		done := progress.OneOff(ctx, "pushing "+ref.String())
		report, stop := layerprogress.Start(ctx, "pushing layer ")
		err := p.Push(ctx, ref, creds, report)
		stop()
		if err := done(err); err != nil {
			return err
		}
	}
	return nil
}
