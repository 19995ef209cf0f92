package unpack

import (
	"errors"
	"io"

	"github.com/berthd/berth/pkg/archive"
)

// Compression is a stream's detected compression.
type Compression = archive.Compression

// Compressions Decompress recognises.
const (
	Uncompressed = archive.Uncompressed
	Gzip         = archive.Gzip
	Zstd         = archive.Zstd
	Bzip2        = archive.Bzip2
	Xz           = archive.Xz
)

// Detect names the compression of the stream that starts with head.
func Detect(head []byte) Compression { return archive.Detect(head) }

// LooksLikeTar reports whether head is the start of an uncompressed tar.
func LooksLikeTar(head []byte) bool { return archive.LooksLikeTar(head) }

// Decompress returns the decompressed form of a layer stream r and the
// compression it found. Close releases decoder resources; it does not
// close r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	rc, c, err := archive.Decompress(r)
	if err == nil && c == Xz {
		rc.Close()
		return nil, c, errors.New("xz-compressed layers are not supported")
	}
	return rc, c, err
}
