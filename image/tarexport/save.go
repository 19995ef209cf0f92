package tarexport

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/image/layer"
	"github.com/berthd/berth/pkg/errdefs"
)

// Item is one image to save with the tags to name it by.
type Item struct {
	img  *image.Image
	refs []reference.NamedTagged
}

// Resolve turns the names of GET /images/get into the images to save and
// their tags, with dockerd's rules: a bare repository name takes every tag
// of that repository, name:tag that tag, an ID or digest the image alone.
// Call it before writing anything so that a bad name is a clean error.
func Resolve(svc *image.Service, names []string) ([]Item, error) {
	var items []Item
	index := map[digest.Digest]int{}
	add := func(img *image.Image, ref reference.Named) {
		i, ok := index[img.ID]
		if !ok {
			i = len(items)
			index[img.ID] = i
			items = append(items, Item{img: img})
		}
		if t, ok := ref.(reference.NamedTagged); ok {
			for _, have := range items[i].refs {
				if have.String() == t.String() {
					return
				}
			}
			items[i].refs = append(items[i].refs, t)
		}
	}
	for _, name := range names {
		ref, err := reference.ParseAnyReference(name)
		if err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
		named, isNamed := ref.(reference.Named)
		if isNamed && reference.IsNameOnly(named) && !strings.HasPrefix(reference.FamiliarName(named), "sha256") {
			assocs := svc.InRepository(named)
			for _, a := range assocs {
				img, err := svc.Get(a.ID.String())
				if err != nil {
					return nil, err
				}
				add(img, a.Ref)
			}
			if len(assocs) > 0 {
				continue
			}
		}
		img, err := svc.Get(name)
		if err != nil {
			return nil, err
		}
		if isNamed && !reference.IsNameOnly(named) {
			add(img, reference.TagNameOnly(named))
		} else {
			add(img, nil)
		}
	}
	return items, nil
}

// Save writes the archive of items to w.
func Save(ctx context.Context, svc *image.Service, items []Item, w io.Writer) error {
	ls, err := svc.Layers()
	if err != nil {
		return err
	}
	// Keep every layer alive while it streams, whatever rmi runs meanwhile.
	for _, it := range items {
		if it.img.TopChain != "" {
			if err := ls.Acquire(it.img.TopChain); err != nil {
				return err
			}
			defer ls.Release(it.img.TopChain)
		}
	}
	tw := tar.NewWriter(w)
	s := &saver{tw: tw, ls: ls, written: map[digest.Digest]bool{}}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	var manifest []manifestItem
	var index ocispec.Index
	index.SchemaVersion = 2
	index.MediaType = ocispec.MediaTypeImageIndex
	repos := map[string]map[string]string{}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		stack, err := ls.Stack(it.img.TopChain)
		if err != nil {
			return err
		}
		var layerPaths []string
		var layerDescs []ocispec.Descriptor
		// Stack is top first; the archive lists base first.
		for i := len(stack) - 1; i >= 0; i-- {
			l := stack[i]
			if err := s.layerBlob(l); err != nil {
				return err
			}
			layerPaths = append(layerPaths, blobPath(l.DiffID))
			layerDescs = append(layerDescs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: l.DiffID, Size: l.TarSize})
		}
		if err := s.blob(it.img.ID, it.img.RawConfig); err != nil {
			return err
		}
		m := ocispec.Manifest{
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: it.img.ID, Size: int64(len(it.img.RawConfig))},
			Layers:    layerDescs,
		}
		m.SchemaVersion = 2
		if m.Layers == nil {
			m.Layers = []ocispec.Descriptor{}
		}
		mb, _ := json.Marshal(m)
		md := digest.FromBytes(mb)
		if err := s.blob(md, mb); err != nil {
			return err
		}
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb))}
		item := manifestItem{Config: blobPath(it.img.ID), RepoTags: []string{}, Layers: layerPaths}
		if item.Layers == nil {
			item.Layers = []string{}
		}
		if len(it.refs) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		for _, r := range it.refs {
			d := desc
			d.Annotations = map[string]string{annotationImageName: r.String(), ocispec.AnnotationRefName: r.Tag()}
			index.Manifests = append(index.Manifests, d)
			item.RepoTags = append(item.RepoTags, reference.FamiliarString(r))
			if len(stack) > 0 {
				fam := reference.FamiliarName(r)
				if repos[fam] == nil {
					repos[fam] = map[string]string{}
				}
				repos[fam][r.Tag()] = stack[0].DiffID.Encoded()
			}
		}
		manifest = append(manifest, item)
	}
	if index.Manifests == nil {
		index.Manifests = []ocispec.Descriptor{}
	}
	ib, _ := json.Marshal(index)
	mfb, _ := json.Marshal(manifest)
	files := []struct {
		name string
		data []byte
	}{
		{"index.json", ib},
		{"manifest.json", mfb},
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	}
	if len(repos) > 0 {
		rb, _ := json.Marshal(repos)
		files = append(files, struct {
			name string
			data []byte
		}{"repositories", rb})
	}
	for _, f := range files {
		if err := s.file(f.name, f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

var epoch = time.Unix(0, 0).UTC()

func blobPath(d digest.Digest) string { return "blobs/" + string(d.Algorithm()) + "/" + d.Encoded() }

type saver struct {
	tw      *tar.Writer
	ls      *layer.Store
	written map[digest.Digest]bool
}

func (s *saver) file(name string, data []byte) error {
	if err := s.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := s.tw.Write(data)
	return err
}

func (s *saver) blob(d digest.Digest, data []byte) error {
	if s.written[d] {
		return nil
	}
	s.written[d] = true
	return s.file(blobPath(d), data)
}

func (s *saver) layerBlob(l layer.Layer) error {
	if s.written[l.DiffID] {
		return nil
	}
	s.written[l.DiffID] = true
	if err := s.tw.WriteHeader(&tar.Header{Name: blobPath(l.DiffID), Typeflag: tar.TypeReg, Mode: 0o644, Size: l.TarSize, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return err
	}
	return s.ls.WriteTar(l.ChainID, s.tw)
}
