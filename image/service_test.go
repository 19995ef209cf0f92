package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	refstore "github.com/berthd/berth/image/reference"
)

// A config whose image was never recorded (the daemon was killed between
// writing the config and the image record) is removed by the next start;
// the configs of recorded images stay.
func TestStartRemovesOrphanConfigs(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	kept, _, _, err := s.RegisterNamed([]byte(`{"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := s.content.Put([]byte(`{"os":"linux","rootfs":{"type":"layers","diff_ids":[]},"comment":"never recorded"}`))
	if err != nil {
		t.Fatal(err)
	}

	s = New(root)
	if err := s.ready(); err != nil {
		t.Fatal(err)
	}
	if !s.content.Has(kept.ID) {
		t.Fatalf("the config of recorded image %s was removed", kept.ID)
	}
	if s.content.Has(orphan) {
		t.Fatalf("orphan config %s was kept", orphan)
	}
	if _, err := s.Get(kept.ID.String()); err != nil {
		t.Fatal(err)
	}
}

func mustNamed(t *testing.T, s string) reference.Named {
	t.Helper()
	r, err := refstore.ParseNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The names a load gives an image stay in its record (it is written once);
// a start applies them only after a crash that kept them out of
// references.json, never over what the user did with them since.
func TestPendingRefsAppliedOnlyAfterACrash(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	loaded, _, _, err := s.RegisterNamed([]byte(`{"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`), "", []reference.Named{mustNamed(t, "it-a:1"), mustNamed(t, "it-b:1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete("it-a:1", false, true); err != nil {
		t.Fatal(err)
	}

	// A load killed after its record and before references.json.
	raw := []byte(`{"os":"linux","rootfs":{"type":"layers","diff_ids":[]},"comment":"killed"}`)
	killed, err := s.content.Put(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(record{PendingRefs: []string{mustNamed(t, "it-c:1").String()}, RefsSeq: s.refs.Seq() + 1})
	if err := os.WriteFile(filepath.Join(s.imagesDir(), killed.Encoded()+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}

	restart := func() {
		s = New(root)
		if err := s.ready(); err != nil {
			t.Fatal(err)
		}
	}
	restart()
	if img, err := s.Get("it-a:1"); err == nil {
		t.Fatalf("a name the user removed came back (%s)", img.ID)
	}
	if img, err := s.Get("it-b:1"); err != nil || img.ID != loaded.ID {
		t.Fatalf("it-b:1: %v %v", img, err)
	}
	if img, err := s.Get("it-c:1"); err != nil || img.ID != killed {
		t.Fatalf("the name of the interrupted load: %v %v", img, err)
	}
	// Moved by the user after the start that restored it: stays moved.
	if _, err := s.Tag(loaded, mustNamed(t, "it-c:1")); err != nil {
		t.Fatal(err)
	}
	restart()
	if img, err := s.Get("it-c:1"); err != nil || img.ID != loaded.ID {
		t.Fatalf("a start undid the user's tag: %v %v", img, err)
	}
	if img, _ := s.Get(loaded.ID.String()); img.LastTagTime.IsZero() {
		t.Fatal("tag time lost over a restart")
	}
}

// A tag whose name is stored stands when its tag time cannot be written
// (a full disk has room for one file and not the next): failing it would
// report undone a tag that a restart shows (found by hack/torture's
// full-disk rounds).
func TestTagStandsWithoutItsTagTime(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	img, _, _, err := s.RegisterNamed([]byte(`{"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// A file where the directory of tag times should be: every write
	// there fails.
	os.RemoveAll(s.tagTimesDir())
	if err := os.WriteFile(s.tagTimesDir(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tag(img, mustNamed(t, "it-tag:1")); err != nil {
		t.Fatalf("tag failed on its tag time alone: %v", err)
	}
	os.Remove(s.tagTimesDir())
	s = New(root)
	if got, err := s.Get("it-tag:1"); err != nil || got.ID != img.ID {
		t.Fatalf("it-tag:1 after a restart: %v %v", got, err)
	}
}

// A load whose names cannot be stored (no room for references.json)
// fails and leaves no image: no record whose pending names a restart
// would apply, no config.
func TestFailedNamingLeavesNoImage(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	if err := s.ready(); err != nil {
		t.Fatal(err)
	}
	// A directory where references.json is replaced: its save fails.
	refs := filepath.Join(root, "references.json")
	os.Remove(refs)
	if err := os.Mkdir(refs, 0o700); err != nil {
		t.Fatal(err)
	}
	raw := []byte(`{"os":"linux","rootfs":{"type":"layers","diff_ids":[]},"comment":"unnamed"}`)
	img, created, _, err := s.RegisterNamed(raw, "", []reference.Named{mustNamed(t, "it-x:1")})
	if err == nil || created || img != nil {
		t.Fatalf("RegisterNamed without room for its names: %v, created %v, %v", img, created, err)
	}
	id := digest.FromBytes(raw)
	if _, err := s.Get(id.String()); err == nil {
		t.Fatal("the image of the failed load is listed")
	}
	if s.content.Has(id) {
		t.Fatal("the config of the failed load is kept")
	}
	os.Remove(refs)
	s = New(root)
	if _, err := s.Get(id.String()); err == nil {
		t.Fatal("the image of the failed load is back after a restart")
	}
	if _, err := s.Get("it-x:1"); err == nil {
		t.Fatal("the name of the failed load is back after a restart")
	}
}
