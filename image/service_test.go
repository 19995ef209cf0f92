package image

import (
	"testing"
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
