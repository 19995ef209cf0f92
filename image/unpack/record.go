package unpack

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The reassembly record is a sequence of
//
//	'R' uvarint(n) n bytes            raw tar bytes, replayed as they are
//	'F' uvarint(n) n bytes uvarint(s) s bytes of content read from the file
//	                                  at that path below the layer root
//
// ended by 'E'. It is small (about 1 KiB per entry before compression) and
// the layer store keeps it gzipped beside the layer directory.
const (
	recRaw  = 'R'
	recFile = 'F'
	recEnd  = 'E'
)

// recordWriter coalesces raw bytes and writes records.
type recordWriter struct {
	w       *bufio.Writer
	pending []byte
	tmp     [binary.MaxVarintLen64]byte
}

func newRecordWriter(w io.Writer) *recordWriter {
	return &recordWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (rw *recordWriter) raw(p []byte) { rw.pending = append(rw.pending, p...) }

func (rw *recordWriter) uvarint(v uint64) {
	n := binary.PutUvarint(rw.tmp[:], v)
	rw.w.Write(rw.tmp[:n])
}

func (rw *recordWriter) flushRaw() {
	if len(rw.pending) == 0 {
		return
	}
	rw.w.WriteByte(recRaw)
	rw.uvarint(uint64(len(rw.pending)))
	rw.w.Write(rw.pending)
	rw.pending = rw.pending[:0]
}

func (rw *recordWriter) file(path string, size int64) {
	rw.flushRaw()
	rw.w.WriteByte(recFile)
	rw.uvarint(uint64(len(path)))
	rw.w.WriteString(path)
	rw.uvarint(uint64(size))
}

func (rw *recordWriter) close() error {
	rw.flushRaw()
	rw.w.WriteByte(recEnd)
	return rw.w.Flush()
}

// recordReader decodes records.
type recordReader struct {
	r *bufio.Reader
}

type record struct {
	kind byte
	raw  []byte
	path string
	size int64
}

// maxRecord bounds one record so a corrupt record cannot exhaust memory.
const maxRecord = 64 << 20

var errCorruptRecord = errors.New("corrupt layer reassembly record")

func (rr *recordReader) next(buf []byte) (record, error) {
	kind, err := rr.r.ReadByte()
	if err != nil {
		return record{}, fmt.Errorf("%w: %v", errCorruptRecord, err)
	}
	switch kind {
	case recEnd:
		return record{kind: kind}, nil
	case recRaw:
		n, err := binary.ReadUvarint(rr.r)
		if err != nil || n > maxRecord {
			return record{}, errCorruptRecord
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(rr.r, buf); err != nil {
			return record{}, errCorruptRecord
		}
		return record{kind: kind, raw: buf}, nil
	case recFile:
		n, err := binary.ReadUvarint(rr.r)
		if err != nil || n > 1<<16 {
			return record{}, errCorruptRecord
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(rr.r, p); err != nil {
			return record{}, errCorruptRecord
		}
		s, err := binary.ReadUvarint(rr.r)
		if err != nil || s > 1<<62 {
			return record{}, errCorruptRecord
		}
		return record{kind: kind, path: string(p), size: int64(s)}, nil
	}
	return record{}, fmt.Errorf("%w: unknown record %q", errCorruptRecord, kind)
}

// recorder sits between the uncompressed stream and archive/tar. In record
// mode it copies every byte it passes into the record; in payload mode it
// only counts them, because they are file content that Reassemble reads
// back from disk. archive/tar reads headers and payloads straight from its
// reader without buffering ahead, which is what makes the split exact.
type recorder struct {
	r       io.Reader
	rec     *recordWriter
	payload bool
	n       int64
}

func (c *recorder) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		if c.payload {
			c.n += int64(n)
		} else {
			c.rec.raw(p[:n])
		}
	}
	return n, err
}
