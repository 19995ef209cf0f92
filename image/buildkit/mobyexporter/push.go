package mobyexporter

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth"
	"github.com/moby/buildkit/util/progress"

	"github.com/berthd/berth/pkg/errdefs"
)

// Pusher is what `push=true` needs from the image store: buildx's docker
// driver leaves the push of `--push` to the exporter when the engine's
// worker reports a snapshotter (as berth's does), as dockerd's containerd
// image store does.
type Pusher interface {
	// Push pushes the image ref names to its registry, as `docker push`
	// does, reporting each layer's steps.
	Push(ctx context.Context, ref reference.Named, creds Credentials, report func(Progress)) error
}

// Credentials answers the registry credentials for a host.
type Credentials func(host string) (user, secret string, err error)

// Progress is one step of a push for one layer ("Pushing", "Pushed",
// "Layer already exists", …), ID the layer's short digest.
type Progress struct {
	ID, Action     string
	Current, Total int64
}

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
		report, closeProgress := pushProgress(ctx)
		err := p.Push(ctx, ref, creds, report)
		closeProgress()
		if err := done(err); err != nil {
			return err
		}
	}
	return nil
}

// pushProgress shows a push's per-layer steps in the build's progress.
func pushProgress(ctx context.Context) (func(Progress), func()) {
	pw, _, _ := progress.NewFromContext(ctx)
	started := map[string]*time.Time{}
	report := func(p Progress) {
		now := time.Now()
		st := started[p.ID]
		if st == nil {
			st = &now
			started[p.ID] = st
		}
		s := progress.Status{Action: strings.ToLower(p.Action), Current: int(p.Current), Total: int(p.Total), Started: st}
		switch p.Action {
		case "Pushed", "Layer already exists":
			s.Completed = &now
		default:
			if strings.HasPrefix(p.Action, "Mounted from") {
				s.Completed = &now
			}
		}
		pw.Write("pushing layer "+p.ID, s)
	}
	return report, func() { pw.Close() }
}
