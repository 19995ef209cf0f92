package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMeasureFs: a hard-linked file (layers share files so) counts once.
func TestMeasureFs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := measureFs(dir)
	if before.Mountpoint != dir || before.UsedInodes != 3 || before.UsedBytes < 64<<10 || before.Timestamp.IsZero() {
		t.Fatalf("measure %+v", before)
	}
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "sub", "b")); err != nil {
		t.Fatal(err)
	}
	after := measureFs(dir)
	if after.UsedInodes != before.UsedInodes || after.UsedBytes != before.UsedBytes {
		t.Errorf("a hard link changed the usage: %+v then %+v", before, after)
	}
	if missing := measureFs(filepath.Join(dir, "absent")); missing.UsedInodes != 0 || missing.UsedBytes != 0 {
		t.Errorf("absent directory: %+v", missing)
	}
}
