package stdstream

import (
	"encoding/binary"
	"io"
)

// Stream identifies the stream a frame carries.
type Stream byte

// The streams, numbered as on the wire.
const (
	Stdin  Stream = 0
	Stdout Stream = 1
	Stderr Stream = 2
	// Systemerr carries an error from the daemon after a stream started.
	Systemerr Stream = 3
)

const headerLen = 8

// maxFrame bounds one frame's payload so that a huge write is split and a
// reader never has to buffer more than this.
const maxFrame = 1 << 20

// Writer frames everything written to it as one stream. It is not safe for
// concurrent use; share an underlying writer through a Mux.
type Writer struct {
	w      io.Writer
	stream Stream
	buf    []byte
}

// NewWriter returns a writer that frames writes as stream s onto w.
func NewWriter(w io.Writer, s Stream) *Writer {
	return &Writer{w: w, stream: s}
}

// Write sends p as one or more frames, each header and payload in a single
// write to the underlying writer.
func (f *Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > maxFrame {
			chunk = chunk[:maxFrame]
		}
		f.buf = AppendFrame(f.buf[:0], f.stream, chunk)
		if _, err := f.w.Write(f.buf); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// AppendFrame appends a frame of payload on stream s to dst. Callers that
// batch many small frames into one buffer use it directly.
func AppendFrame(dst []byte, s Stream, payload []byte) []byte {
	var h [headerLen]byte
	h[0] = byte(s)
	binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}
