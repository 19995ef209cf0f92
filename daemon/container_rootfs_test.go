package daemon

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/image"
)

func initLayerDaemon(t *testing.T) *Daemon {
	cfg := config.Default()
	cfg.DataRoot = t.TempDir()
	return &Daemon{cfg: cfg}
}

// The init layer gets its modes whatever the daemon's umask, holds no
// /etc, and one left incomplete or with other entries is rebuilt.
func TestEnsureInitLayer(t *testing.T) {
	d := initLayerDaemon(t)
	old := syscall.Umask(0o077)
	err := d.ensureInitLayer()
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	dir := d.initLayerDir()
	paths := []string{""}
	for _, e := range initLayerEntries {
		paths = append(paths, e.path)
	}
	for _, p := range paths {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%q has mode %v", p, fi.Mode().Perm())
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "etc")); !os.IsNotExist(err) {
		t.Errorf("the init layer has /etc: %v", err)
	}
	// A mode changed since is repaired in place.
	os.Chmod(filepath.Join(dir, "proc"), 0o700)
	if err := d.ensureInitLayer(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "proc")); fi.Mode().Perm() != 0o755 {
		t.Errorf("proc mode not repaired: %v", fi.Mode().Perm())
	}
	// An entry too many (an older layout) or one missing: rebuilt.
	os.Mkdir(filepath.Join(dir, "etc"), 0o755)
	os.Remove(filepath.Join(dir, ".dockerenv"))
	if err := d.ensureInitLayer(); err != nil {
		t.Fatal(err)
	}
	if err := checkInitLayer(dir); err != nil {
		t.Fatal(err)
	}
	if ents, _ := filepath.Glob(filepath.Join(d.cfg.DataRoot, ".initlayer-*")); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// The layer root behind a symlink: the init layer's relative path is
// taken from where the layer root really is.
func TestWithInitLayerThroughSymlink(t *testing.T) {
	d := initLayerDaemon(t)
	if err := d.ensureInitLayer(); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "disk2", "layers")
	os.MkdirAll(elsewhere, 0o700)
	root := filepath.Join(d.cfg.DataRoot, "image", "layers")
	os.MkdirAll(filepath.Dir(root), 0o700)
	if err := os.Symlink(elsewhere, root); err != nil {
		t.Fatal(err)
	}
	out, err := d.withInitLayer(image.RootFS{LayerRoot: root, Links: []string{"l/ABC"}, LowerDirs: []string{"/x"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Links) != 2 || out.Links[1] != "l/ABC" || out.LowerDirs[0] != d.initLayerDir() {
		t.Fatalf("got %+v", out)
	}
	// Resolved as the mount resolves it: from the real directory.
	if fi, err := os.Stat(filepath.Join(elsewhere, out.Links[0])); err != nil || !fi.IsDir() {
		t.Fatalf("%s from %s: %v", out.Links[0], elsewhere, err)
	}
	// An image without layers: the init layer alone, from the data root.
	out, err = d.withInitLayer(image.RootFS{})
	if err != nil || len(out.Links) != 1 || out.Links[0] != initLayerName {
		t.Fatalf("no layers: %+v %v", out, err)
	}
}
