package plugin

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/plugin"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

// maxConfigSize bounds a plugin config read into memory.
const maxConfigSize = 1 << 20

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return errdefs.InvalidParameter(fmt.Errorf("failed to parse config: %w", err))
	}
	return nil
}

// staging is a plugin being made in a hidden directory of the store,
// renamed to its ID once whole; load throws away one a crash left.
type staging struct {
	m   *Manager
	id  string
	dir string
}

func (m *Manager) newStaging() (*staging, error) {
	id := stringid.GenerateRandomID()
	dir := filepath.Join(m.root, ".new-"+id)
	if err := os.MkdirAll(filepath.Join(dir, blobsDir), 0o700); err != nil {
		return nil, errdefs.System(err)
	}
	if err := os.Mkdir(filepath.Join(dir, rootfsDir), 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, errdefs.System(err)
	}
	return &staging{m: m, id: id, dir: dir}, nil
}

func (s *staging) discard() { os.RemoveAll(s.dir) }

// writeBlob stores b under its digest and describes it.
func (s *staging) writeBlob(mediaType string, b []byte) (Blob, error) {
	sum := sha256.Sum256(b)
	d := "sha256:" + hex.EncodeToString(sum[:])
	if err := os.WriteFile(s.blobPath(d), b, 0o600); err != nil {
		return Blob{}, errdefs.System(err)
	}
	return Blob{MediaType: mediaType, Digest: d, Size: int64(len(b))}, nil
}

func (s *staging) blobPath(d string) string {
	return filepath.Join(s.dir, blobsDir, strings.ReplaceAll(d, ":", "-"))
}

// addLayer stores a gzipped layer read from r (checked against want when
// want is not empty), unpacks it into the root filesystem, and returns
// the blob and the digest of its uncompressed tar (its diff ID).
func (s *staging) addLayer(ctx context.Context, r io.Reader, want string) (Blob, string, error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, blobsDir), ".layer-")
	if err != nil {
		return Blob{}, "", errdefs.System(err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		return Blob{}, "", err
	}
	d := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if want != "" && d != want {
		return Blob{}, "", errdefs.InvalidParameterf("layer digest mismatch: expected %s, got %s", want, d)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Blob{}, "", errdefs.System(err)
	}
	plain, _, err := archive.Decompress(tmp)
	if err != nil {
		return Blob{}, "", errdefs.InvalidParameter(err)
	}
	defer plain.Close()
	diff := sha256.New()
	if err := archive.Untar(io.TeeReader(plain, diff), filepath.Join(s.dir, rootfsDir), archive.UntarOptions{}); err != nil {
		return Blob{}, "", errdefs.InvalidParameter(fmt.Errorf("plugin rootfs: %w", err))
	}
	// What the untar did not read still counts for the diff ID.
	io.Copy(diff, plain)
	if err := os.Rename(tmp.Name(), s.blobPath(d)); err != nil {
		return Blob{}, "", errdefs.System(err)
	}
	return Blob{MediaType: MediaTypeLayer, Digest: d, Size: n}, "sha256:" + hex.EncodeToString(diff.Sum(nil)), nil
}

// writeRecord puts rec in the staged directory, which a rename then makes
// the plugin's.
func (s *staging) writeRecord(rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, recordFile), b, 0o600); err != nil {
		return errdefs.System(err)
	}
	return nil
}

// commit makes the staged plugin installed under name.
func (s *staging) commit(rec record) error {
	m := s.m
	rec.ID = s.id
	if err := s.writeRecord(rec); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.plugins {
		if e.rec.Name == rec.Name {
			return errdefs.Conflictf("plugin %s already exists", rec.Name)
		}
	}
	if err := os.Rename(s.dir, m.dir(s.id)); err != nil {
		return errdefs.System(err)
	}
	m.plugins[s.id] = &entry{rec: rec}
	return nil
}

// exists refuses a name an installed plugin has.
func (m *Manager) exists(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.plugins {
		if e.rec.Name == name {
			return errdefs.Conflictf("plugin %s already exists", name)
		}
	}
	return nil
}

// Create installs a plugin from a build context (POST /plugins/create): a
// tar with config.json and the root filesystem under rootfs/.
func (m *Manager) Create(ctx context.Context, name string, buildContext io.Reader) error {
	full, err := FullName(name)
	if err != nil {
		return err
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.exists(full); err != nil {
		return err
	}
	s, err := m.newStaging()
	if err != nil {
		return err
	}
	defer s.discard()
	// The rootfs/ entries become one gzipped layer, as dockerd makes it.
	pr, pw := io.Pipe()
	var configJSON []byte
	go func() { pw.CloseWithError(splitContext(buildContext, pw, &configJSON)) }()
	layer, diffID, err := s.addLayer(ctx, gzipped(pr), "")
	pr.CloseWithError(err)
	if err != nil {
		return err
	}
	if configJSON == nil {
		return errdefs.InvalidParameter(errors.New("config not found"))
	}
	var cfg plugin.Config
	if err := jsonUnmarshal(configJSON, &cfg); err != nil {
		return err
	}
	cfg.Rootfs = &plugin.RootFS{Type: "layers", DiffIds: []string{diffID}}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cblob, err := s.writeBlob(MediaTypeConfig, cb)
	if err != nil {
		return err
	}
	rec := record{
		Plugin: plugin.Plugin{Name: full, Config: cfg, Settings: initialSettings(cfg)},
		Blobs:  blobs{Config: cblob, Layers: []Blob{layer}},
	}
	if err := s.commit(rec); err != nil {
		return err
	}
	m.event(ActionCreate, s.id, name)
	return nil
}

// gzipped compresses r as it is read.
func gzipped(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, r)
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// splitContext copies the rootfs/ entries of a plugin build context to w as
// a tar of their own, without the prefix, and keeps config.json.
func splitContext(in io.Reader, w io.Writer, config *[]byte) error {
	tr := tar.NewReader(in)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + h.Name)[1:]
		if name == "config.json" && h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(io.LimitReader(tr, maxConfigSize+1))
			if err != nil {
				return err
			}
			if len(b) > maxConfigSize {
				return errors.New("config.json is too large")
			}
			*config = b
			continue
		}
		rest, ok := strings.CutPrefix(name, "rootfs/")
		if !ok || rest == "" {
			continue
		}
		h.Name = rest
		if h.Typeflag == tar.TypeLink {
			l := path.Clean("/" + h.Linkname)[1:]
			if r, ok := strings.CutPrefix(l, "rootfs/"); ok {
				h.Linkname = r
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}
