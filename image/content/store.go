package content

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
)

// Store is a blob store rooted at a directory.
type Store struct {
	root string
}

// New returns the store at root, creating its directories.
func New(root string) (*Store, error) {
	for _, d := range []string{filepath.Join(root, "blobs", "sha256"), filepath.Join(root, "ingest")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return &Store{root: root}, nil
}

// Cleanup removes ingest files a crash left behind. Call it before the
// store is used concurrently.
func (s *Store) Cleanup() error {
	dir := filepath.Join(s.root, "ingest")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
	return nil
}

func (s *Store) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", errdefs.InvalidParameter(fmt.Errorf("invalid digest %q: %w", d, err))
	}
	return filepath.Join(s.root, "blobs", string(d.Algorithm()), d.Encoded()), nil
}

// Path is where blob d lives; it need not exist.
func (s *Store) Path(d digest.Digest) (string, error) { return s.path(d) }

// Has reports whether blob d is stored.
func (s *Store) Has(d digest.Digest) bool {
	p, err := s.path(d)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// Get reads a whole blob; use it for small blobs (configs, manifests).
func (s *Store) Get(d digest.Digest) ([]byte, error) {
	p, err := s.path(d)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.NotFoundf("blob %s not found", d)
	}
	return b, err
}

// Open opens a blob for streaming.
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	p, err := s.path(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.NotFoundf("blob %s not found", d)
	}
	return f, err
}

// Put stores b under its sha256 digest and returns the digest.
func (s *Store) Put(b []byte) (digest.Digest, error) {
	d := digest.FromBytes(b)
	_, err := s.Write(bytes.NewReader(b), d)
	return d, err
}

// Write stores the content of r, which must have digest want, and returns
// its size. A mismatch is an invalid-parameter error and stores nothing.
func (s *Store) Write(r io.Reader, want digest.Digest) (int64, error) {
	p, err := s.path(want)
	if err != nil {
		return 0, err
	}
	if fi, err := os.Stat(p); err == nil {
		// Already there: still drain r so callers reading a stream stay
		// in step, and still verify it.
		v := want.Verifier()
		n, err := io.Copy(v, r)
		if err != nil {
			return 0, err
		}
		if !v.Verified() {
			return 0, errdefs.InvalidParameterf("blob digest mismatch: expected %s", want)
		}
		_ = fi
		return n, nil
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, "ingest"), want.Encoded()+"-*")
	if err != nil {
		return 0, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	v := want.Verifier()
	n, err := io.Copy(io.MultiWriter(tmp, v), r)
	if err != nil {
		return 0, err
	}
	if !v.Verified() {
		return 0, errdefs.InvalidParameterf("blob digest mismatch: expected %s", want)
	}
	if err := tmp.Sync(); err != nil {
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return 0, err
	}
	return n, atomicfile.SyncDir(filepath.Dir(p))
}

// Delete removes blob d; a missing blob is not an error.
func (s *Store) Delete(d digest.Digest) error {
	p, err := s.path(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Walk calls fn for every stored sha256 blob.
func (s *Store) Walk(fn func(d digest.Digest) error) error {
	ents, err := os.ReadDir(filepath.Join(s.root, "blobs", "sha256"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil {
			continue
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}
