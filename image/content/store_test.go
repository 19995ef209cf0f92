package content

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestPutGetMismatch(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Put([]byte("config"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := s.Get(d); err != nil || string(b) != "config" {
		t.Fatalf("get: %q %v", b, err)
	}
	bad := digest.FromString("other")
	if _, err := s.Write(strings.NewReader("config"), bad); !errdefs.Is(err, errdefs.InvalidParameter) {
		t.Fatalf("mismatch: %v", err)
	}
	if s.Has(bad) {
		t.Fatal("mismatched blob stored")
	}
	if _, err := s.Get(bad); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("missing: %v", err)
	}
	var n int
	s.Walk(func(digest.Digest) error { n++; return nil })
	if n != 1 {
		t.Fatalf("walk saw %d blobs", n)
	}
}
