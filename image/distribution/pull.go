package distribution

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/image/distribution/hosts"
	"github.com/berthd/berth/image/layer"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/registryauth"
	"github.com/berthd/berth/pkg/stringid"
)

// PullOptions are POST /images/create's pull parameters.
type PullOptions struct {
	// Image and Tag are the fromImage and tag queries; Tag may be a
	// digest, and an empty Tag on a name without one pulls every tag.
	Image, Tag string
	Platform   string
	Auth       Auth
	Output     Output
}

// ParseReference joins fromImage and tag the way dockerd does.
func ParseReference(img, tag string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(img)
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	if tag == "" {
		return named, nil
	}
	if _, ok := named.(reference.Digested); ok {
		return named, nil
	}
	if _, ok := named.(reference.Tagged); ok {
		return named, nil
	}
	if dg, err := digest.Parse(tag); err == nil {
		r, err := reference.WithDigest(reference.TrimNamed(named), dg)
		if err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
		return r, nil
	}
	r, err := reference.WithTag(reference.TrimNamed(named), tag)
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	return r, nil
}

// needs is what an endpoint must be capable of to serve named: a push
// pushes; a pull by digest only pulls, any other resolves a tag first.
func needs(named reference.Named, push bool) hosts.Capabilities {
	if push {
		return hosts.Push
	}
	if _, ok := named.(reference.Digested); ok {
		return hosts.Pull
	}
	return hosts.Pull | hosts.Resolve
}

// forEachEndpoint runs fn on each endpoint of a registry until one
// answers: an endpoint that cannot be reached (or a mirror that fails in
// any way) hands over to the next.
func (s *Service) forEachEndpoint(ctx context.Context, named reference.Named, a Auth, push bool, fn func(*repository) error) error {
	eps, err := s.endpoints(named)
	if err != nil {
		return err
	}
	ua, attempts := s.config().UserAgent, s.config().MaxDownloadAttempts
	need := needs(named, push)
	var firstErr error
	tried := false
	for _, ep := range eps {
		if !ep.can(need) {
			continue
		}
		tried = true
		creds := a
		if ep.ownCredsOnly && a.ServerAddress != "" && registryauth.Host(a.ServerAddress) != ep.host {
			creds = Auth{}
		}
		repo := &repository{ep: ep, name: reference.Path(named), creds: creds, push: push, userAgent: ua, attempts: attempts}
		repo.creds.ServerAddress = ep.host
		err := repo.ping(ctx)
		if err == nil {
			err = fn(repo)
			if err == nil {
				return nil
			}
			var u unreachable
			if !ep.mirror && !errors.As(err, &u) {
				return err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if firstErr == nil || tlsToPlain(firstErr) {
			firstErr = err
		}
	}
	if !tried {
		return errdefs.InvalidParameterf("no host configured for %s may %s it (hosts.toml capabilities)", reference.Domain(named), need)
	}
	var u unreachable
	if errors.As(firstErr, &u) {
		return errdefs.Unavailable(u.error)
	}
	return firstErr
}

// noPrompt keeps registry refusals off HTTP 401: the docker CLI answers a
// 401 to pull or push by prompting for credentials on stdin, which hangs a
// script. dockerd answers 404 for "pull access denied" and 500 for the
// rest, and so does berth.
func noPrompt(err error) error {
	if err == nil || !errdefs.Is(err, errdefs.Unauthorized) {
		return err
	}
	return errdefs.System(errors.New(err.Error()))
}

// Pull fetches an image (or every tag of a repository) into the store.
func (s *Service) Pull(ctx context.Context, o PullOptions) error {
	named, err := ParseReference(o.Image, o.Tag)
	if err != nil {
		return err
	}
	plat, err := ParsePlatform(o.Platform)
	if err != nil {
		return err
	}
	if _, err := s.images.Layers(); err != nil {
		return err
	}
	out := o.Output
	if out == nil {
		out = func(jsonstream.Message) {}
	}
	return noPrompt(s.forEachEndpoint(ctx, named, o.Auth, false, func(repo *repository) error {
		if !reference.IsNameOnly(named) {
			res, err := s.pullOne(ctx, repo, named, plat, out)
			if err != nil {
				return err
			}
			out(jsonstream.Message{Status: "Digest: " + res.manifest.String()})
			out(jsonstream.Message{Status: res.status(named)})
			return nil
		}
		tags, err := repo.tags(ctx)
		if err != nil {
			return s.pullError(repo, named, err)
		}
		updated := false
		for _, tag := range tags {
			ref, err := reference.WithTag(named, tag)
			if err != nil {
				continue
			}
			res, err := s.pullOne(ctx, repo, ref, plat, out)
			if err != nil {
				return err
			}
			out(jsonstream.Message{Status: "Digest: " + res.manifest.String()})
			updated = updated || res.updated
		}
		if updated {
			out(jsonstream.Message{Status: "Status: Downloaded newer image for " + reference.FamiliarName(named)})
		} else {
			out(jsonstream.Message{Status: "Status: Image is up to date for " + reference.FamiliarName(named)})
		}
		return nil
	}))
}

type pullResult struct {
	manifest digest.Digest
	image    *image.Image
	updated  bool
}

func (r pullResult) status(ref reference.Named) string {
	if r.updated {
		return "Status: Downloaded newer image for " + reference.FamiliarString(ref)
	}
	return "Status: Image is up to date for " + reference.FamiliarString(ref)
}

// pullError words registry refusals the way dockerd does, so that users
// (and scripts) see the same messages.
func (s *Service) pullError(repo *repository, ref reference.Named, err error) error {
	he := asHTTPError(err)
	if he == nil {
		return err
	}
	switch {
	case he.Status == http.StatusUnauthorized && repo.authScheme() == "basic" && repo.creds.Username == "":
		return errdefs.Unauthorized(fmt.Errorf("%s %q: no basic auth credentials", he.Method, he.URL))
	case he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden || he.has(codeDenied) || he.has(codeNameUnknown):
		return errdefs.NotFound(fmt.Errorf("pull access denied for %s, repository does not exist or may require 'docker login': %s", reference.FamiliarName(ref), err))
	case he.has(codeManifestUnknown) || he.Status == http.StatusNotFound:
		return errdefs.NotFound(fmt.Errorf("manifest for %s not found: %w", reference.FamiliarString(ref), err))
	}
	return err
}

// resolve fetches the manifest ref names and, for an index, the entry for
// plat. It returns the top-level digest (what RepoDigests record) and the
// image manifest.
func (s *Service) resolve(ctx context.Context, repo *repository, ref reference.Named, plat Platform) (digest.Digest, *manifest, error) {
	tagOrDigest := ""
	if d, ok := ref.(reference.Digested); ok {
		tagOrDigest = d.Digest().String()
	} else if t, ok := ref.(reference.Tagged); ok {
		tagOrDigest = t.Tag()
	} else {
		tagOrDigest = "latest"
	}
	b, ct, top, err := repo.getManifest(ctx, tagOrDigest)
	if err != nil {
		return "", nil, s.pullError(repo, ref, err)
	}
	m, kind, err := parseManifest(b, ct)
	if err != nil {
		return "", nil, err
	}
	if kind == "index" {
		desc, err := selectManifest(m, plat)
		if err != nil {
			return "", nil, err
		}
		b, ct, _, err = repo.getManifest(ctx, desc.Digest.String())
		if err != nil {
			return "", nil, s.pullError(repo, ref, err)
		}
		if m, kind, err = parseManifest(b, ct); err != nil {
			return "", nil, err
		}
		if kind != "manifest" {
			return "", nil, errdefs.InvalidParameterf("manifest %s: nested index is not supported", desc.Digest)
		}
	}
	return top, m, nil
}

func (s *Service) pullOne(ctx context.Context, repo *repository, ref reference.Named, plat Platform, out Output) (pullResult, error) {
	top, m, err := s.resolve(ctx, repo, ref, plat)
	if err != nil {
		return pullResult{}, err
	}
	idLine := ""
	if d, ok := ref.(reference.Digested); ok {
		idLine = d.Digest().String()
	} else if t, ok := ref.(reference.Tagged); ok {
		idLine = t.Tag()
	}
	// The config comes before the first progress line, so that a wrong
	// platform is a plain error response rather than a broken stream.
	raw, err := repo.getBlobBytes(ctx, m.Config.Digest)
	if err != nil {
		return pullResult{}, s.pullError(repo, ref, err)
	}
	cfg, err := image.ParseConfig(raw)
	if err != nil {
		return pullResult{}, err
	}
	if plat.Explicit && (cfg.Architecture != "" && cfg.Architecture != plat.Architecture) {
		return pullResult{}, errdefs.NotFoundf("image with reference %s was found but does not provide the specified platform (%s)", reference.FamiliarString(ref), plat)
	}
	out(jsonstream.Message{ID: idLine, Status: "Pulling from " + reference.FamiliarName(ref)})
	var layers []ocispec.Descriptor
	for _, l := range m.Layers {
		if isLayer(l.MediaType) {
			if err := l.Digest.Validate(); err != nil {
				return pullResult{}, errdefs.InvalidParameterf("invalid layer digest %q in manifest", l.Digest)
			}
			layers = append(layers, l)
		}
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(layers) {
		return pullResult{}, errdefs.InvalidParameterf("invalid manifest: %d layers for %d diff IDs in the config", len(layers), len(diffIDs))
	}

	img, err := s.fetchLayersAndRegister(ctx, repo, raw, layers, diffIDs, out)
	if err != nil {
		return pullResult{}, err
	}
	updated := false
	if _, ok := ref.(reference.Digested); !ok {
		if old, ok := s.images.Lookup(ref); !ok || old != img.ID {
			updated = true
		}
		if err := s.images.AddReference(img, ref); err != nil {
			return pullResult{}, err
		}
	}
	canonical, err := reference.WithDigest(reference.TrimNamed(ref), top)
	if err == nil {
		if old, ok := s.images.Lookup(canonical); !ok || old != img.ID {
			updated = true
		}
		if err := s.images.AddReference(img, canonical); err != nil {
			return pullResult{}, err
		}
	}
	s.logEvent(events.ActionPull, ref, img)
	return pullResult{manifest: top, image: img, updated: updated}, nil
}

// fetchLayersAndRegister makes sure every layer is stored, downloading
// the missing ones (sharing downloads already running), then registers the
// image.
func (s *Service) fetchLayersAndRegister(ctx context.Context, repo *repository, raw []byte, layers []ocispec.Descriptor, diffIDs []digest.Digest, out Output) (*image.Image, error) {
	ls := s.layerStore()
	id := digest.FromBytes(raw)
	if existing, err := s.images.Get(id.String()); err == nil && existing.ID == id {
		// Nothing to download; Register below still needs a reference on
		// the top layer, which the image holds.
		if existing.TopChain != "" {
			if err := ls.Acquire(existing.TopChain); err != nil {
				return nil, err
			}
		}
		img, _, err := s.images.Register(raw, "")
		return img, err
	}
	chains := layer.ChainIDs(diffIDs)
	var held []digest.Digest // chains this pull took a reference on
	type watched struct {
		t  *transfer
		id int
	}
	var watches []watched
	defer func() {
		for _, w := range watches {
			s.unwatch(w.t, w.id)
		}
		for _, c := range held {
			ls.Release(c)
		}
	}()

	s.mu.Lock()
	for i, l := range layers {
		if t := s.transfers[chains[i]]; t == nil && ls.Acquire(chains[i]) == nil {
			held = append(held, chains[i])
			out(jsonstream.Message{ID: stringid.TruncateID(string(l.Digest)), Status: "Already exists"})
			continue
		}
		out(jsonstream.Message{ID: stringid.TruncateID(string(l.Digest)), Status: "Pulling fs layer"})
		parent := digest.Digest("")
		if i > 0 {
			parent = chains[i-1]
		}
		t := s.startTransferLocked(chains[i], parent, l, diffIDs[i], repo)
		watches = append(watches, watched{t, t.watchLocked(out)})
	}
	s.mu.Unlock()

	for _, w := range watches {
		select {
		case <-w.t.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if w.t.err != nil {
			if w.t.err == context.Canceled && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, w.t.err
		}
	}
	top := digest.Digest("")
	if len(chains) > 0 {
		top = chains[len(chains)-1]
		if err := ls.Acquire(top); err != nil {
			return nil, err
		}
	}
	img, _, err := s.images.Register(raw, "")
	if err != nil {
		if top != "" {
			ls.Release(top)
		}
		return nil, err
	}
	return img, nil
}
