package distribution

import (
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/image/layer"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

// PushOptions are POST /images/{name}/push's parameters.
type PushOptions struct {
	// Name and Tag: an empty Tag pushes every tag of the repository.
	Name, Tag string
	Auth      Auth
	Output    Output
}

// pushTarget is one tag to push and its image.
type pushTarget struct {
	ref reference.NamedTagged
	img *image.Image
}

// Push uploads an image (or every tag of a repository) to its registry.
func (s *Service) Push(ctx context.Context, o PushOptions) error {
	named, err := ParseReference(o.Name, o.Tag)
	if err != nil {
		return err
	}
	if _, ok := named.(reference.Digested); ok {
		return errdefs.InvalidParameterf("cannot push a digest reference")
	}
	out := o.Output
	if out == nil {
		out = func(jsonstream.Message) {}
	}
	var targets []pushTarget
	if t, ok := named.(reference.NamedTagged); ok {
		id, ok := s.images.Lookup(t)
		if !ok {
			return errdefs.NotFoundf("An image does not exist locally with the tag: %s", reference.FamiliarString(named))
		}
		img, err := s.images.Get(id.String())
		if err != nil {
			return err
		}
		targets = append(targets, pushTarget{t, img})
	} else {
		for _, a := range s.images.InRepository(named) {
			t, ok := a.Ref.(reference.NamedTagged)
			if !ok {
				continue
			}
			img, err := s.images.Get(a.ID.String())
			if err != nil {
				continue
			}
			targets = append(targets, pushTarget{t, img})
		}
		sort.Slice(targets, func(i, j int) bool { return targets[i].ref.Tag() < targets[j].ref.Tag() })
		if len(targets) == 0 {
			return errdefs.NotFoundf("An image does not exist locally with the tag: %s", reference.FamiliarName(named))
		}
	}
	return noPrompt(s.forEachEndpoint(ctx, named, o.Auth, true, func(repo *repository) error {
		out(jsonstream.Message{Status: "The push refers to repository [" + named.Name() + "]"})
		p := &pusher{s: s, repo: repo, out: out, done: map[digest.Digest]*layerPush{}}
		for _, t := range targets {
			if err := p.pushTag(ctx, t); err != nil {
				return s.pushError(repo, named, err)
			}
		}
		return nil
	}))
}

func (s *Service) pushError(repo *repository, ref reference.Named, err error) error {
	he := asHTTPError(err)
	if he == nil {
		return err
	}
	if he.Status == 401 && repo.authScheme() == "basic" && repo.creds.Username == "" {
		return errdefs.Unauthorized(fmt.Errorf("%s %q: no basic auth credentials", he.Method, he.URL))
	}
	return err
}

// pusher pushes the tags of one request; layers shared by several tags
// are pushed once.
type pusher struct {
	s    *Service
	repo *repository
	out  Output

	mu   sync.Mutex
	done map[digest.Digest]*layerPush
}

type layerPush struct {
	once sync.Once
	desc ocispec.Descriptor
	err  error
}

// schema2 is the manifest berth pushes: docker's v2 schema 2, which every
// registry and client reads.
type schema2 struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Config        ocispec.Descriptor   `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
}

func (p *pusher) pushTag(ctx context.Context, t pushTarget) error {
	ls := p.s.layerStore()
	img := t.img
	if img.TopChain != "" {
		// Keep the layers while they upload, whatever rmi does meanwhile.
		if err := ls.Acquire(img.TopChain); err != nil {
			return err
		}
		defer ls.Release(img.TopChain)
	}
	stack, err := ls.Stack(img.TopChain)
	if err != nil {
		return err
	}
	// Stack is top first, which is also the order dockerd lists them in.
	for _, l := range stack {
		p.out(jsonstream.Message{ID: stringid.TruncateID(string(l.DiffID)), Status: "Preparing"})
	}
	descs := make([]ocispec.Descriptor, len(stack))
	errs := make([]error, len(stack))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, l := range stack {
		wg.Add(1)
		go func() {
			defer wg.Done()
			descs[len(stack)-1-i], errs[i] = p.pushLayer(ctx, l)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if ok, _, err := p.repo.statBlob(ctx, img.ID); err != nil {
		return err
	} else if !ok {
		if err := p.repo.putMonolithic(ctx, img.RawConfig, img.ID); err != nil {
			return err
		}
	}
	m := schema2{
		SchemaVersion: 2,
		MediaType:     MediaTypeDockerManifest,
		Config:        ocispec.Descriptor{MediaType: MediaTypeDockerConfig, Size: int64(len(img.RawConfig)), Digest: img.ID},
		Layers:        descs,
	}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	b, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		return err
	}
	d, err := p.repo.putManifest(ctx, t.ref.Tag(), MediaTypeDockerManifest, b)
	if err != nil {
		return err
	}
	p.out(jsonstream.Message{Status: fmt.Sprintf("%s: digest: %s size: %d", t.ref.Tag(), d, len(b))})
	aux, _ := json.Marshal(map[string]any{"Tag": t.ref.Tag(), "Digest": d.String(), "Size": len(b)})
	raw := json.RawMessage(aux)
	p.out(jsonstream.Message{Progress: &jsonstream.Progress{}, Aux: &raw})
	if canonical, err := reference.WithDigest(reference.TrimNamed(t.ref), d); err == nil {
		_ = p.s.images.AddReference(img, canonical)
	}
	p.s.logEvent(events.ActionPush, t.ref, img)
	return nil
}

// pushLayer makes sure the registry has the layer, once per push request.
func (p *pusher) pushLayer(ctx context.Context, l layer.Layer) (ocispec.Descriptor, error) {
	p.mu.Lock()
	lp := p.done[l.DiffID]
	if lp == nil {
		lp = &layerPush{}
		p.done[l.DiffID] = lp
	}
	p.mu.Unlock()
	lp.once.Do(func() { lp.desc, lp.err = p.pushLayerOnce(ctx, l) })
	return lp.desc, lp.err
}

func (p *pusher) pushLayerOnce(ctx context.Context, l layer.Layer) (ocispec.Descriptor, error) {
	id := stringid.TruncateID(string(l.DiffID))
	host := p.repo.ep.host
	var mountLoc string
	// What berth pulled from or pushed to this registry before: the blob
	// may be there already, or in another repository to mount from.
	for _, rec := range p.s.knownBlobs(l.DiffID) {
		if rec.Host != host {
			continue
		}
		ok, size, err := p.repo.statBlob(ctx, rec.Digest)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if ok {
			p.out(jsonstream.Message{ID: id, Status: "Layer already exists"})
			return p.layerDesc(l, rec.Digest, size, rec.MediaType), nil
		}
		if rec.Repository == p.repo.name || mountLoc != "" {
			continue
		}
		mounted, loc, err := p.repo.mount(ctx, rec.Digest, rec.Repository)
		if err != nil {
			continue
		}
		if mounted {
			p.out(jsonstream.Message{ID: id, Status: "Mounted from " + mountFrom(host, rec.Repository)})
			return p.layerDesc(l, rec.Digest, rec.Size, rec.MediaType), nil
		}
		mountLoc = loc
	}
	if !p.s.uploads.tryAcquire() {
		p.out(jsonstream.Message{ID: id, Status: "Waiting"})
		if err := p.s.uploads.acquire(ctx); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	defer p.s.uploads.release()
	var lastErr error
	for try := 0; try < 3; try++ {
		if try > 0 {
			if err := backoff(ctx, try+1); err != nil {
				return ocispec.Descriptor{}, err
			}
			mountLoc = ""
		}
		d, size, err := p.upload(ctx, l, mountLoc)
		if err == nil {
			p.out(jsonstream.Message{ID: id, Status: "Pushed"})
			p.s.remember(l.DiffID, blobRecord{Digest: d, Size: size, MediaType: MediaTypeDockerLayer, Host: host, Repository: p.repo.name})
			return p.layerDesc(l, d, size, MediaTypeDockerLayer), nil
		}
		lastErr = err
		if ctx.Err() != nil || !(errdefs.Is(err, errdefs.Unavailable) || retryable(err)) {
			break
		}
	}
	return ocispec.Descriptor{}, lastErr
}

func (p *pusher) layerDesc(l layer.Layer, d digest.Digest, size int64, mt string) ocispec.Descriptor {
	if mt == "" {
		mt = MediaTypeDockerLayer
	}
	return ocispec.Descriptor{MediaType: mt, Size: size, Digest: d}
}

// mountFrom is how dockerd names the source repository of a mount:
// familiar, without the registry host.
func mountFrom(host, repo string) string {
	if n, err := reference.ParseNormalizedNamed(host + "/" + repo); err == nil {
		return reference.Path(n)
	}
	return repo
}

// countWriter counts bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// upload compresses the layer from the store while it uploads, computing
// the blob digest on the way, and returns digest and compressed size.
func (p *pusher) upload(ctx context.Context, l layer.Layer, loc string) (digest.Digest, int64, error) {
	id := stringid.TruncateID(string(l.DiffID))
	ls := p.s.layerStore()
	pr, pw := io.Pipe()
	go func() {
		gz, _ := gzip.NewWriterLevel(pw, flate.BestSpeed)
		prog := &progressWriter{total: l.TarSize, report: func(cur, total int64) {
			p.out(jsonstream.Message{ID: id, Status: "Pushing", Progress: &jsonstream.Progress{Current: cur, Total: total}})
		}, w: gz}
		err := ls.WriteTar(l.ChainID, prog)
		if err == nil {
			err = gz.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.CloseWithError(context.Canceled)
	dg := digest.SHA256.Digester()
	cw := &countWriter{w: dg.Hash()}
	src := io.TeeReader(pr, cw)
	if loc == "" {
		var err error
		if loc, err = p.repo.startUpload(ctx); err != nil {
			return "", 0, err
		}
	}
	if err := p.repo.uploadStream(ctx, loc, src, p.s.config().ChunkSize, dg.Digest); err != nil {
		return "", 0, err
	}
	return dg.Digest(), cw.n, nil
}

// progressWriter reports bytes written, at most every 100ms.
type progressWriter struct {
	w      io.Writer
	n      int64
	total  int64
	last   int64
	report func(cur, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	// Report per ~512 KiB rather than per write; the CLI redraws anyway.
	if p.n-p.last >= 512<<10 || p.n == p.total {
		p.last = p.n
		p.report(p.n, p.total)
	}
	return n, err
}
