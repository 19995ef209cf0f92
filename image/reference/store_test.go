package reference

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestStorePersistsAndNormalises(t *testing.T) {
	p := filepath.Join(t.TempDir(), "refs.json")
	s, _ := New(p)
	id := digest.FromString("img")
	r, err := ParseNamed("busybox")
	if err != nil || r.String() != "docker.io/library/busybox:latest" {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := s.Add(r, id); err != nil {
		t.Fatal(err)
	}
	s2, _ := New(p)
	if got, ok := s2.Get(r); !ok || got != id {
		t.Fatal("not persisted")
	}
	if refs := s2.References(id); len(refs) != 1 || Familiar(refs[0]) != "busybox:latest" {
		t.Fatalf("refs %v", refs)
	}
	for _, bad := range []string{"BAD:REF:x", "a b", ""} {
		if _, err := ParseNamed(bad); err == nil || !errdefs.Is(err, errdefs.InvalidParameter) || !strings.Contains(err.Error(), "invalid reference format") {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if _, err := ParseTag("x", "sha256:"+strings.Repeat("a", 64)); err == nil {
		t.Fatal("digest tag accepted")
	}
	if _, err := ParseTag("sha256", "1"); err == nil {
		t.Fatal("ambiguous name accepted")
	}
}
