package unpack

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/archive"
)

// Result describes an applied layer.
type Result struct {
	// DiffID is the sha256 of the uncompressed tar stream.
	DiffID digest.Digest
	// TarSize is the length of the uncompressed tar stream.
	TarSize int64
	// Size is the sum of the entries' sizes, the figure dockerd reports as
	// a layer's size.
	Size int64
}

// EntryError is a tar entry that Apply refuses. It is the client's fault
// (a malformed or malicious archive), never an internal one.
type EntryError = archive.EntryError

// resolveBeneath resolves a path below the layer root refusing "..",
// absolute paths and every symlink, as archive.Extract does for a layer.
const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// layerOptions are the extraction rules of a layer: no symlink followed,
// names that climb out refused, the root entry applied, overlay
// whiteouts, xattrs kept.
func layerOptions() archive.ExtractOptions {
	return archive.ExtractOptions{Kind: "layer", RootEntry: true, Overlay: true, Xattrs: true, Writeback: true}
}

// Apply extracts the uncompressed layer tar r into dir, which must exist
// and be empty, and writes the reassembly record to record. On error dir is
// left partly filled; the caller removes it.
func Apply(ctx context.Context, dir string, r io.Reader, record io.Writer) (Result, error) {
	var res Result
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return res, err
	}
	defer root.Close()

	h := sha256.New()
	counter := &countingReader{r: io.TeeReader(r, h)}
	rw := newRecordWriter(record)
	rec := &recorder{r: counter, rec: rw}
	o := layerOptions()
	o.OnHeader = func(hdr *tar.Header) { res.Size += hdr.Size }
	o.ContentStart = func(rel string, size int64) {
		rw.file(rel, size)
		rec.payload = true
	}
	o.ContentEnd = func() { rec.payload = false }
	if err := archive.Extract(ctx, rec, root, o); err != nil {
		return res, err
	}
	// The trailer (zero blocks, record padding) is part of the diff ID and
	// of the bytes Reassemble must give back.
	if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rec}, make([]byte, 64<<10)); err != nil {
		return res, fmt.Errorf("reading layer tar: %w", err)
	}
	if err := rw.close(); err != nil {
		return res, err
	}
	res.DiffID = digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
	res.TarSize = counter.n
	return res, nil
}
