package wire

import (
	"encoding/binary"
	"errors"
)

// ErrShort is the error of a Reader that ran out of input or met a
// malformed varint.
var ErrShort = errors.New("wire: truncated or malformed data")

// Writer appends fields to a byte slice.
type Writer struct {
	b []byte
}

// NewWriter appends to b.
func NewWriter(b []byte) *Writer { return &Writer{b: b} }

// Uint writes an unsigned integer.
func (w *Writer) Uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

// Int writes a signed integer.
func (w *Writer) Int(v int64) { w.b = binary.AppendVarint(w.b, v) }

// Bool writes a boolean.
func (w *Writer) Bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

// Bytes writes p with its length; nil and empty read back as nil.
func (w *Writer) Bytes(p []byte) {
	w.Uint(uint64(len(p)))
	w.b = append(w.b, p...)
}

// String writes s with its length.
func (w *Writer) String(s string) {
	w.Uint(uint64(len(s)))
	w.b = append(w.b, s...)
}

// Data is what was written.
func (w *Writer) Data() []byte { return w.b }

// Reader reads fields in the order they were written. After the first
// error every read returns a zero value; Err reports it.
type Reader struct {
	b   []byte
	err error
}

// NewReader reads from b, which Bytes results alias.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Uint reads an unsigned integer.
func (r *Reader) Uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = ErrShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Int reads a signed integer.
func (r *Reader) Int() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = ErrShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Bool reads a boolean.
func (r *Reader) Bool() bool {
	if r.err != nil {
		return false
	}
	if len(r.b) == 0 || r.b[0] > 1 {
		r.err = ErrShort
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

// Bytes reads a length-prefixed byte string. The result aliases the
// Reader's input: nil for an empty one.
func (r *Reader) Bytes() []byte {
	n := r.Uint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = ErrShort
		return nil
	}
	if n == 0 {
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

// String reads a length-prefixed string (a copy).
func (r *Reader) String() string { return string(r.Bytes()) }

// Err is the first error met, or ErrShort for input left over after
// the last field when done is true.
func (r *Reader) Err(done bool) error {
	if r.err == nil && done && len(r.b) > 0 {
		return errors.New("wire: data left after the last field")
	}
	return r.err
}
