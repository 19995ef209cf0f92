package harness

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
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

// ImageState is what a failed load, pull, build or commit must not
// change: the images the API lists and the image store on disk.
type ImageState struct {
	Images []string
	Store  []string
}

// ImageState records the daemon's ImageState.
func (d *Daemon) ImageState(t testing.TB) ImageState {
	t.Helper()
	ids := strings.Fields(d.DockerT(t, "images", "-a", "-q", "--no-trunc"))
	return ImageState{Images: ids, Store: d.StoreSnapshot(t)}
}

// WantImageState fails t when the daemon's ImageState differs from
// before or a metadata file is torn; then it restarts the daemon (on
// the same, possibly still full, data-root) and checks the same again:
// nothing half-written makes the restart fail or shows up after it.
func (d *Daemon) WantImageState(t testing.TB, before ImageState) {
	t.Helper()
	check := func(when string) {
		t.Helper()
		if now := d.ImageState(t); !reflect.DeepEqual(now, before) {
			t.Fatalf("%s: the image side changed\nbefore: %v\nafter:  %v", when, before, now)
		}
		d.CheckMetadata(t)
	}
	check("after the failure")
	if err := d.Restart(false); err != nil {
		t.Fatalf("restart: %v", err)
	}
	check("after a restart")
	d.DockerT(t, "system", "df")
}

// WantFailure fails t unless err is a failure whose output (out, joined)
// says want, case aside; it logs the failure for the record.
func WantFailure(t testing.TB, what string, err error, want string, out ...string) {
	t.Helper()
	all := strings.TrimSpace(strings.Join(out, "\n"))
	if err == nil {
		t.Fatalf("%s succeeded: %s", what, all)
	}
	if !strings.Contains(strings.ToLower(all), strings.ToLower(want)) {
		t.Fatalf("%s failed without saying %q: %v\n%s", what, want, err, all)
	}
	t.Logf("%s failed as it should: %s", what, all)
}
