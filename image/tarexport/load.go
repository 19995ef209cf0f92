package tarexport

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/image/layer"
	refstore "github.com/berthd/berth/image/reference"
	"github.com/berthd/berth/image/unpack"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/faultpoint"
)

const (
	// smallEntry is the size up to which an entry is kept in memory.
	smallEntry = 1 << 20
	// maxBuffered bounds the memory all small entries may take.
	maxBuffered = 512 << 20

	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	annotationImageName         = "io.containerd.image.name"
)

// manifestItem is one entry of a docker-save manifest.json.
type manifestItem struct {
	Config       string
	RepoTags     []string
	Layers       []string
	LayerSources map[digest.Digest]ocispec.Descriptor `json:",omitempty"`
}

// entry is one file of the archive.
type entry struct {
	data    []byte         // small entries
	pending *layer.Pending // large layer entries, unpacked on the fly
	digest  digest.Digest  // of the entry's bytes as stored
	size    int64
	used    bool
}

type loader struct {
	ctx     context.Context
	out     Output
	svc     *image.Service
	layers  *layer.Store
	entries map[string]*entry
	links   map[string]string
	buf     int64
}

func cleanPath(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// Output receives what a load reports while it runs. Either function may
// be nil.
type Output struct {
	// Progress reports the bytes of one layer read so far, as dockerd's
	// "Loading layer" messages: id is the layer's short ID. It is called
	// at most every 1% (or 512 KiB) and 100 ms, and always at the end.
	Progress func(id string, current, total int64)
	// Line is a message for the user, e.g. "Loaded image: busybox:latest".
	Line func(string)
}

func (o Output) line(s string) {
	if o.Line != nil {
		o.Line(s)
	}
}

// Load reads an image archive from r into svc, reporting to out as it
// goes. Each image is committed whole, with its names, or not at all.
func Load(ctx context.Context, svc *image.Service, r io.Reader, out Output) error {
	ls, err := svc.Layers()
	if err != nil {
		return err
	}
	rc, _, err := unpack.Decompress(r)
	if err != nil {
		return errdefs.InvalidParameterf("invalid archive: %v", err)
	}
	defer rc.Close()
	l := &loader{ctx: ctx, out: out, svc: svc, layers: ls, entries: map[string]*entry{}, links: map[string]string{}}
	defer func() {
		for _, e := range l.entries {
			e.pending.Discard()
		}
	}()
	if err := l.read(rc); err != nil {
		return err
	}
	if e := l.get("manifest.json"); e != nil && e.data != nil {
		var items []manifestItem
		if err := json.Unmarshal(e.data, &items); err != nil {
			return errdefs.InvalidParameterf("invalid manifest.json: %v", err)
		}
		return l.loadDocker(items)
	}
	if e := l.get("index.json"); e != nil && e.data != nil {
		return l.loadOCI(e.data)
	}
	return errdefs.InvalidParameterf("invalid archive: no manifest.json or index.json found (is it a docker save or OCI layout tarball?)")
}

// progressReader reports reads the way dockerd's progress.Reader does.
type progressReader struct {
	r                   io.Reader
	id                  string
	report              func(id string, current, total int64)
	total, cur, lastCur int64
	every               int64
	lastAt              time.Time
	done                bool
}

func newProgressReader(r io.Reader, id string, total int64, report func(string, int64, int64)) io.Reader {
	if report == nil {
		return r
	}
	every := int64(512 << 10)
	if pct := total / 100; total > 0 && pct < every {
		every = pct
	}
	return &progressReader{r: r, id: id, report: report, total: total, every: every}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.cur += int64(n)
	end := err != nil || (p.total > 0 && p.cur >= p.total)
	if (p.cur-p.lastCur > p.every || end) && !p.done {
		if end || time.Since(p.lastAt) >= 100*time.Millisecond {
			p.report(p.id, p.cur, p.total)
			p.lastAt = time.Now()
			p.done = end
		}
		p.lastCur = p.cur
	}
	return n, err
}

// shortLayerID names a layer entry for progress before its diff ID is
// known: the blob's hex for an OCI-style "blobs/sha256/<hex>" (the diff ID
// itself for an uncompressed layer, as dockerd shows), else the entry's
// directory ("<v1 id>/layer.tar").
func shortLayerID(name string) string {
	base := path.Base(name)
	if base == "layer.tar" && path.Dir(name) != "." {
		base = path.Base(path.Dir(name))
	}
	if len(base) > 12 {
		base = base[:12]
	}
	return base
}

func (l *loader) get(name string) *entry {
	name = cleanPath(name)
	for i := 0; i < 8; i++ {
		if t, ok := l.links[name]; ok {
			name = t
			continue
		}
		break
	}
	return l.entries[name]
}

// read walks the archive once, buffering small entries and unpacking large
// layer-looking ones.
func (l *loader) read(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errdefs.InvalidParameterf("invalid archive: %v", err)
		}
		name := cleanPath(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			// Legacy archives link duplicate layer.tar files.
			l.links[name] = cleanPath(path.Join(path.Dir(name), hdr.Linkname))
			continue
		case tar.TypeLink:
			l.links[name] = cleanPath(hdr.Linkname)
			continue
		case tar.TypeReg, '\x00':
		default:
			continue
		}
		if hdr.Size <= smallEntry {
			if l.buf+hdr.Size > maxBuffered {
				return errdefs.InvalidParameterf("invalid archive: too many small entries")
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return errdefs.InvalidParameterf("invalid archive: %v", err)
			}
			l.buf += hdr.Size
			l.entries[name] = &entry{data: b, digest: digest.FromBytes(b), size: hdr.Size}
			continue
		}
		e, err := l.readLarge(newProgressReader(tr, shortLayerID(name), hdr.Size, l.out.Progress), hdr.Size)
		if err != nil {
			return err
		}
		l.entries[name] = e
	}
}

func (l *loader) readLarge(r io.Reader, size int64) (*entry, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(512)
	c := unpack.Detect(head)
	if c == unpack.Uncompressed && !unpack.LooksLikeTar(head) {
		if l.buf+size > maxBuffered {
			return nil, errdefs.InvalidParameterf("invalid archive: entry of %d bytes is neither a layer nor small", size)
		}
		b, err := io.ReadAll(br)
		if err != nil {
			return nil, errdefs.InvalidParameterf("invalid archive: %v", err)
		}
		l.buf += size
		return &entry{data: b, digest: digest.FromBytes(b), size: size}, nil
	}
	// An uncompressed layer's digest is its diff ID, which unpacking
	// computes over every byte (trailer included): hashing the entry a
	// second time would cost a sixth of a load's time. A compressed one
	// is hashed as it streams.
	var src io.Reader = br
	var dg digest.Digester
	if c != unpack.Uncompressed {
		dg = digest.SHA256.Digester()
		src = io.TeeReader(br, dg.Hash())
	}
	// An uncompressed layer is read straight from br: another buffer
	// would copy every byte once more.
	var dec io.ReadCloser = io.NopCloser(br)
	if c != unpack.Uncompressed {
		var err error
		if dec, _, err = unpack.Decompress(src); err != nil {
			return nil, errdefs.InvalidParameterf("invalid layer: %v", err)
		}
	}
	p, err := l.layers.Unpack(l.ctx, dec)
	dec.Close()
	if err != nil {
		return nil, layerError(err)
	}
	rest, err := io.Copy(io.Discard, src)
	if err != nil {
		p.Discard()
		return nil, errdefs.InvalidParameterf("invalid archive: %v", err)
	}
	if dg == nil {
		if rest != 0 || p.Result.TarSize != size {
			p.Discard()
			return nil, errdefs.InvalidParameterf("invalid layer: %d bytes after the layer's end", size-p.Result.TarSize)
		}
		return &entry{pending: p, digest: p.Result.DiffID, size: size}, nil
	}
	return &entry{pending: p, digest: dg.Digest(), size: size}, nil
}

func layerError(err error) error {
	var ee *unpack.EntryError
	if errors.As(err, &ee) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reading layer tar") {
		return errdefs.InvalidParameter(err)
	}
	return err
}

// layerFor returns a pending layer for an entry, unpacking a small one
// from memory. A pending layer is consumed by Commit, so a blob used twice
// is unpacked again from the committed copy.
func (l *loader) layerFor(e *entry, diffID digest.Digest, committed map[digest.Digest]digest.Digest) (*layer.Pending, error) {
	if e.pending != nil && !e.used {
		e.used = true
		return e.pending, nil
	}
	if e.data != nil {
		var src io.Reader = bytes.NewReader(e.data)
		if l.out.Progress != nil {
			src = newProgressReader(src, truncate(diffID.Encoded()), int64(len(e.data)), l.out.Progress)
		}
		dec, _, err := unpack.Decompress(src)
		if err != nil {
			return nil, errdefs.InvalidParameterf("invalid layer: %v", err)
		}
		defer dec.Close()
		p, err := l.layers.Unpack(l.ctx, dec)
		if err != nil {
			return nil, layerError(err)
		}
		return p, nil
	}
	chain, ok := committed[e.pending.Result.DiffID]
	if !ok {
		return nil, fmt.Errorf("layer %s used twice before it was stored", e.pending.Result.DiffID)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(l.layers.WriteTar(chain, pw)) }()
	p, err := l.layers.Unpack(l.ctx, pr)
	pr.Close()
	return p, err
}

func truncate(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// commitImage unpacks and commits the layers of one image, checks them
// against its config and registers it with its names.
func (l *loader) commitImage(raw []byte, layerEntries []*entry, refs []reference.Named) (*image.Image, []digest.Digest, error) {
	cfg, err := image.ParseConfig(raw)
	if err != nil {
		return nil, nil, err
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(layerEntries) {
		return nil, nil, errdefs.InvalidParameterf("invalid manifest, layers length mismatch: expected %d, got %d", len(diffIDs), len(layerEntries))
	}
	committed := map[digest.Digest]digest.Digest{}
	var top digest.Digest
	release := func() {
		if top != "" {
			l.layers.Release(top)
		}
	}
	chains := layer.ChainIDs(diffIDs)
	for i, e := range layerEntries {
		// Already stored (another image, an earlier load): no unpacking,
		// but the entry's content must still match.
		if e.pending == nil && e.data == nil {
			release()
			return nil, nil, errdefs.InvalidParameterf("invalid archive: missing layer %d", i)
		}
		if e.pending != nil && e.pending.Result.DiffID != diffIDs[i] {
			release()
			return nil, nil, errdefs.InvalidParameterf("invalid diffID for layer %d: expected %q, got %q", i, diffIDs[i], e.pending.Result.DiffID)
		}
		if l.layers.Acquire(chains[i]) == nil {
			if e.data != nil {
				if err := l.verifySmall(e, diffIDs[i], i); err != nil {
					l.layers.Release(chains[i])
					release()
					return nil, nil, err
				}
			}
			release()
			top = chains[i]
			continue
		}
		p, err := l.layerFor(e, diffIDs[i], committed)
		if err != nil {
			release()
			return nil, nil, err
		}
		if p.Result.DiffID != diffIDs[i] {
			if p != e.pending {
				p.Discard()
			}
			release()
			return nil, nil, errdefs.InvalidParameterf("invalid diffID for layer %d: expected %q, got %q", i, diffIDs[i], p.Result.DiffID)
		}
		chain, err := l.layers.Commit(p, top)
		if err != nil {
			p.Discard()
			release()
			return nil, nil, err
		}
		release()
		top = chain
		committed[diffIDs[i]] = chain
	}
	faultpoint.Hit("image.load.after-layers")
	// The reference on top passes to the image.
	img, created, olds, err := l.svc.RegisterNamed(raw, "", refs)
	if err != nil && !created {
		release()
	}
	return img, olds, err
}

// verifySmall checks an in-memory layer's diff ID without unpacking it.
func (l *loader) verifySmall(e *entry, want digest.Digest, i int) error {
	dec, _, err := unpack.Decompress(bytes.NewReader(e.data))
	if err != nil {
		return errdefs.InvalidParameterf("invalid layer: %v", err)
	}
	defer dec.Close()
	v := want.Verifier()
	if _, err := io.Copy(v, dec); err != nil {
		return errdefs.InvalidParameterf("invalid layer: %v", err)
	}
	if !v.Verified() {
		return errdefs.InvalidParameterf("invalid diffID for layer %d: expected %q", i, want)
	}
	return nil
}

// parseNames keeps the tagged names of an image, as dockerd does.
func parseNames(names []string) ([]reference.Named, error) {
	var refs []reference.Named
	for _, n := range names {
		ref, err := refstore.ParseNamed(n)
		if err != nil {
			return nil, err
		}
		if _, ok := ref.(reference.NamedTagged); ok {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// report logs the load event and tells the user what was loaded.
func (l *loader) report(img *image.Image, refs []reference.Named, olds []digest.Digest) {
	l.svc.LogEvent(events.ActionLoad, img, img.ID.String())
	if len(refs) == 0 {
		l.out.line("Loaded image ID: " + img.ID.String())
		return
	}
	for i, ref := range refs {
		if i < len(olds) && olds[i] != "" && olds[i] != img.ID {
			l.out.line(fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", reference.FamiliarString(ref), olds[i]))
		}
		l.out.line("Loaded image: " + reference.FamiliarString(ref))
	}
}

func (l *loader) loadDocker(items []manifestItem) error {
	for _, m := range items {
		ce := l.get(m.Config)
		if ce == nil || ce.data == nil {
			return errdefs.InvalidParameterf("invalid archive: config %q not found", m.Config)
		}
		var les []*entry
		for _, lp := range m.Layers {
			e := l.get(lp)
			if e == nil {
				return errdefs.InvalidParameterf("invalid archive: layer %q not found", lp)
			}
			les = append(les, e)
		}
		refs, err := parseNames(m.RepoTags)
		if err != nil {
			return err
		}
		img, olds, err := l.commitImage(ce.data, les, refs)
		if err != nil {
			return err
		}
		l.report(img, refs, olds)
	}
	return nil
}

func (l *loader) blob(d ocispec.Descriptor) (*entry, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, errdefs.InvalidParameterf("invalid descriptor digest %q", d.Digest)
	}
	e := l.get(path.Join("blobs", string(d.Digest.Algorithm()), d.Digest.Encoded()))
	if e == nil {
		return nil, errdefs.InvalidParameterf("invalid archive: blob %s not found", d.Digest)
	}
	if e.digest != d.Digest {
		return nil, errdefs.InvalidParameterf("invalid archive: blob %s has digest %s", d.Digest, e.digest)
	}
	return e, nil
}

func (l *loader) loadOCI(indexData []byte) error {
	var idx ocispec.Index
	if err := json.Unmarshal(indexData, &idx); err != nil {
		return errdefs.InvalidParameterf("invalid index.json: %v", err)
	}
	for _, d := range idx.Manifests {
		if err := l.loadDescriptor(d, d.Annotations, 0); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) loadDescriptor(d ocispec.Descriptor, ann map[string]string, depth int) error {
	if depth > 4 {
		return errdefs.InvalidParameterf("invalid archive: indexes nested too deep")
	}
	e, err := l.blob(d)
	if err != nil {
		return err
	}
	if e.data == nil {
		return errdefs.InvalidParameterf("invalid archive: %s is not a manifest", d.Digest)
	}
	switch d.MediaType {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		var idx ocispec.Index
		if err := json.Unmarshal(e.data, &idx); err != nil {
			return errdefs.InvalidParameterf("invalid index %s: %v", d.Digest, err)
		}
		var pick *ocispec.Descriptor
		for i, m := range idx.Manifests {
			if m.Platform == nil || (m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH) {
				pick = &idx.Manifests[i]
				break
			}
		}
		if pick == nil {
			return errdefs.NotFoundf("no image for linux/%s in %s", runtime.GOARCH, d.Digest)
		}
		return l.loadDescriptor(*pick, ann, depth+1)
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest, "":
	default:
		return errdefs.InvalidParameterf("unsupported media type %q", d.MediaType)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(e.data, &m); err != nil {
		return errdefs.InvalidParameterf("invalid manifest %s: %v", d.Digest, err)
	}
	ce, err := l.blob(m.Config)
	if err != nil {
		return err
	}
	var les []*entry
	for _, ld := range m.Layers {
		le, err := l.blob(ld)
		if err != nil {
			return err
		}
		les = append(les, le)
	}
	var names []string
	if n := ann[annotationImageName]; n != "" {
		names = append(names, n)
	} else if n := ann[ocispec.AnnotationRefName]; n != "" {
		// A full reference in ref.name (some tools write one) names the
		// image; a bare tag does not.
		if r, err := reference.ParseNormalizedNamed(n); err == nil && strings.ContainsAny(n, "/:") {
			names = append(names, r.String())
		}
	}
	refs, err := parseNames(names)
	if err != nil {
		return err
	}
	img, olds, err := l.commitImage(ce.data, les, refs)
	if err != nil {
		return err
	}
	l.report(img, refs, olds)
	return nil
}
