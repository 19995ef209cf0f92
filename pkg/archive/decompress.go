package archive

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression is a stream's detected compression.
type Compression int

// Compressions Decompress recognises.
const (
	Uncompressed Compression = iota
	Gzip
	Zstd
	Bzip2
	Xz
)

func (c Compression) String() string {
	return [...]string{"uncompressed", "gzip", "zstd", "bzip2", "xz"}[c]
}

var (
	magicGzip  = []byte{0x1f, 0x8b, 0x08}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicBzip2 = []byte{0x42, 0x5a, 0x68}
	magicXz    = []byte{0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00}
)

// Detect names the compression of the stream that starts with head.
func Detect(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, magicGzip):
		return Gzip
	case bytes.HasPrefix(head, magicZstd):
		return Zstd
	case bytes.HasPrefix(head, magicBzip2):
		return Bzip2
	case bytes.HasPrefix(head, magicXz):
		return Xz
	}
	return Uncompressed
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

func nopClose() error { return nil }

// Decompress returns the decompressed form of r and the compression it
// found (gzip, zstd, bzip2 or xz, as dockerd's DecompressStream). Close
// releases decoder resources; it does not close r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, Uncompressed, err
	}
	c := Detect(head)
	switch c {
	case Gzip:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, err
		}
		return readCloser{gz, gz.Close}, c, nil
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, c, err
		}
		return readCloser{zr, func() error { zr.Close(); return nil }}, c, nil
	case Bzip2:
		return readCloser{bzip2.NewReader(br), nopClose}, c, nil
	case Xz:
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, c, err
		}
		return readCloser{xr, nopClose}, c, nil
	}
	return readCloser{br, nopClose}, c, nil
}

// LooksLikeTar reports whether head (at least 512 bytes, fewer at end of
// stream) is the start of an uncompressed tar: a ustar/gnu header or the
// zero block of an empty archive.
func LooksLikeTar(head []byte) bool {
	if len(head) < 512 {
		return false
	}
	if bytes.Equal(head[257:262], []byte("ustar")) {
		return true
	}
	for _, b := range head[:512] {
		if b != 0 {
			// A v7 header has no magic; its checksum field still parses.
			return v7Checksum(head[:512])
		}
	}
	return true
}

func v7Checksum(blk []byte) bool {
	field := bytes.TrimRight(bytes.TrimLeft(blk[148:156], " \x00"), " \x00")
	if len(field) == 0 {
		return false
	}
	var want int64
	for _, c := range field {
		if c < '0' || c > '7' {
			return false
		}
		want = want*8 + int64(c-'0')
	}
	var sum int64
	for i, b := range blk {
		if i >= 148 && i < 156 {
			b = ' '
		}
		sum += int64(b)
	}
	return sum == want
}
