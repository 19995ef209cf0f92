package wire

import (
	"bytes"
	"math"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	w := NewWriter(nil)
	w.Uint(0)
	w.Uint(math.MaxUint64)
	w.Int(-1)
	w.Int(math.MinInt64)
	w.Bool(true)
	w.Bool(false)
	w.Bytes([]byte("spec"))
	w.Bytes(nil)
	w.String("héllo")
	r := NewReader(w.Data())
	if r.Uint() != 0 || r.Uint() != math.MaxUint64 || r.Int() != -1 || r.Int() != math.MinInt64 ||
		!r.Bool() || r.Bool() || !bytes.Equal(r.Bytes(), []byte("spec")) || r.Bytes() != nil || r.String() != "héllo" {
		t.Fatal("round trip changed a field")
	}
	if err := r.Err(true); err != nil {
		t.Fatal(err)
	}
}

func TestTruncatedAndLeftOver(t *testing.T) {
	w := NewWriter(nil)
	w.String("a longer string")
	data := w.Data()
	r := NewReader(data[:len(data)-1])
	if r.String() != "" || r.Err(false) != ErrShort || r.Uint() != 0 {
		t.Fatal("a truncated string read as a value")
	}
	r = NewReader(append(data, 7))
	_ = r.String()
	if r.Err(false) != nil || r.Err(true) == nil {
		t.Fatal("left-over data not reported")
	}
	r = NewReader([]byte{2})
	if r.Bool() || r.Err(false) != ErrShort {
		t.Fatal("a byte other than 0 or 1 read as a boolean")
	}
}
