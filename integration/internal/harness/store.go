package harness

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// StoreSnapshot is what the image side of a data-root holds on disk: the
// image records, the layer directories (and the layer store's scratch
// directory), the content blobs and the references. A failed load, pull,
// build or commit must leave it as it found it.
func (d *Daemon) StoreSnapshot(t testing.TB) []string {
	t.Helper()
	img := filepath.Join(d.DataRoot, "image")
	var out []string
	for _, pattern := range []string{
		"images/*", "layers/*", "layers/tmp/*", "layers/holds/*",
		"content/blobs/*/*", "content/ingest/*", "distribution/*",
	} {
		ms, err := filepath.Glob(filepath.Join(img, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			rel, _ := filepath.Rel(img, m)
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	return out
}

// CheckMetadata fails t for every JSON file under the data-root that does
// not parse (a torn or truncated write) and for every temporary file that
// an atomic write left behind. Container root file systems, layer
// contents, volume data and log files are the containers' and skipped.
func (d *Daemon) CheckMetadata(t testing.TB) {
	t.Helper()
	filepath.WalkDir(d.DataRoot, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		name := e.Name()
		if e.IsDir() {
			switch name {
			case "diff", "fs", "_data", "merged", "upper", "work":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp") {
			t.Errorf("temporary file of an atomic write left behind: %s", p)
		}
		if !strings.HasSuffix(name, ".json") || strings.HasSuffix(name, "-json.log") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("metadata %s: %v", p, err)
		} else if !json.Valid(b) {
			t.Errorf("metadata %s is not valid JSON (%d bytes): %.200q", p, len(b), b)
		}
		return nil
	})
}
