package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/config"
	daemonevents "github.com/berthd/berth/daemon/events"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/volume/mounts"
)

func volumeTestDaemon(t *testing.T) *Daemon {
	t.Helper()
	d := &Daemon{cfg: &config.Config{DataRoot: t.TempDir()}, events: daemonevents.New()}
	t.Cleanup(d.events.Close)
	if err := d.initVolumes(); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestResolveAndMountVolumes(t *testing.T) {
	ctx := context.Background()
	d := volumeTestDaemon(t)
	past, live, cancel := d.events.Subscribe(nil)
	_ = past
	defer cancel()

	rootfs := t.TempDir()
	os.MkdirAll(filepath.Join(rootfs, "app", "data"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "app", "data", "seed"), []byte("from image"), 0o644)
	host := filepath.Join(t.TempDir(), "created-by-v")

	mps, err := d.resolveVolumeMounts(ctx, "c1", mounts.Config{
		Binds:   []string{"named:/app/data", host + ":/host:ro"},
		Mounts:  []mount.Mount{{Type: mount.TypeTmpfs, Target: "/scratch", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}}},
		Volumes: map[string]struct{}{"/anon": {}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.volumes.InUse("named"); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("named volume references %v", got)
	}
	var anon string
	for _, mp := range mps {
		if mp.Destination == "/anon" {
			anon = mp.Name
		}
	}
	if len(anon) != 64 || d.volumes.InUse(anon) == nil {
		t.Fatalf("anonymous volume %q not created and referenced", anon)
	}

	specs, done, err := d.mountVolumes(ctx, "c1", rootfs, mps)
	if err != nil {
		t.Fatal(err)
	}
	done()
	byDest := map[string][]string{}
	for _, m := range specs {
		byDest[m.Destination] = append([]string{m.Type, m.Source}, m.Options...)
	}
	if got := byDest["/host"]; got[1] != host || !slices.Equal(got[2:], []string{"rbind", "ro", "rprivate"}) {
		t.Errorf("bind spec %q", got)
	}
	if fi, err := os.Stat(host); err != nil || !fi.IsDir() {
		t.Errorf("-v did not create its host directory: %v", err)
	}
	if got := byDest["/scratch"]; got[0] != "tmpfs" || !slices.Contains(got, "size=1m") {
		t.Errorf("tmpfs spec %q", got)
	}
	named := byDest["/app/data"]
	if b, _ := os.ReadFile(filepath.Join(named[1], "seed")); string(b) != "from image" {
		t.Errorf("copy-up into %s: %q", named[1], b)
	}

	// `rm -v`: the anonymous volume goes, the named one stays.
	if err := d.unmountVolumes(ctx, "c1", mps); err != nil {
		t.Fatal(err)
	}
	c := newTestContainerWithMounts("c1", mps)
	d.releaseContainerVolumes(c, true)
	if _, err := d.volumes.Get(ctx, anon); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("anonymous volume left after rm -v: %v", err)
	}
	if _, err := d.volumes.Get(ctx, "named"); err != nil || d.volumes.InUse("named") != nil {
		t.Errorf("named volume: %v, refs %v", err, d.volumes.InUse("named"))
	}

	var got []string
	timeout := time.After(2 * time.Second)
	for len(got) < 7 {
		select {
		case m := <-live:
			if m.Type == events.VolumeEventType {
				got = append(got, string(m.Action)+" "+m.Actor.Attributes["destination"])
			}
		case <-timeout:
			t.Fatalf("events so far %q", got)
		}
	}
	joined := strings.Join(got, ",")
	for _, want := range []string{"mount /app/data", "mount /anon", "unmount ", "destroy "} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing event %q in %q", want, got)
		}
	}
}

func TestResolveVolumeMountsUndoesOnError(t *testing.T) {
	ctx := context.Background()
	d := volumeTestDaemon(t)
	_, err := d.resolveVolumeMounts(ctx, "c1", mounts.Config{
		Binds:  []string{"good:/a"},
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "x", Target: "/b/c", VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Name: "nosuchplugin"}}}},
	})
	if err == nil || !strings.Contains(err.Error(), `plugin "nosuchplugin" not found`) {
		t.Fatalf("err %v", err)
	}
	if refs := d.volumes.InUse("good"); refs != nil {
		t.Fatalf("references left after a failed create: %v", refs)
	}
	_, err = d.resolveVolumeMounts(ctx, "c1", mounts.Config{Binds: []string{"a:/x", "b:/x"}})
	if err == nil || err.Error() != "Duplicate mount point: /x" {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestMountVolumeSubpathStaysInside(t *testing.T) {
	ctx := context.Background()
	d := volumeTestDaemon(t)
	mps, err := d.resolveVolumeMounts(ctx, "c1", mounts.Config{Mounts: []mount.Mount{
		{Type: mount.TypeVolume, Source: "sub", Target: "/s", VolumeOptions: &mount.VolumeOptions{Subpath: "dir"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := d.volumes.Get(ctx, "sub")
	// A symlink planted in the volume that points at the host root.
	os.Symlink("/", filepath.Join(v.Mountpoint, "dir"))
	specs, done, err := d.mountVolumes(ctx, "c1", "", mps)
	if err == nil {
		done()
		target, _ := os.Readlink(specs[0].Source)
		if target == "/" {
			t.Fatalf("subpath resolved to the host root: %v", specs)
		}
	}
	os.Remove(filepath.Join(v.Mountpoint, "dir"))
	os.Mkdir(filepath.Join(v.Mountpoint, "dir"), 0o755)
	specs, done, err = d.mountVolumes(ctx, "c1", "", mps)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	target, err := os.Readlink(specs[0].Source)
	if err != nil || target != filepath.Join(v.Mountpoint, "dir") {
		t.Fatalf("subpath source %s → %q %v", specs[0].Source, target, err)
	}
}

func newTestContainerWithMounts(id string, mps []*mounts.MountPoint) *ctr.Container {
	c := ctr.New(id, "")
	for _, mp := range mps {
		m := apiMountPoint(mp)
		c.MountPoints[mp.Destination] = &m
	}
	return c
}

// A mount point mountVolumes cannot serve is an error, not a panic: the
// clean-up after a failure once called the nil done it had just returned.
func TestMountVolumesFailureDoesNotPanic(t *testing.T) {
	ctx := context.Background()
	d := volumeTestDaemon(t)
	mps := []*mounts.MountPoint{{Type: "bogus", Destination: "/x"}}
	if _, _, err := d.mountVolumes(ctx, "c1", "", mps); err == nil {
		t.Fatal("an unknown mount type was accepted")
	}
}

// Subpath symlinks are followed inside the volume and refused when they
// lead out of it, with dockerd's texts.
func TestOpenSubpathLikeDockerd(t *testing.T) {
	vol := t.TempDir()
	os.MkdirAll(filepath.Join(vol, "subdir"), 0o755)
	os.MkdirAll(filepath.Join(vol, "hack"), 0o755)
	os.Symlink("/", filepath.Join(vol, "hack", "root"))
	os.Symlink("../subdir", filepath.Join(vol, "hack", "good"))
	os.Symlink("root", filepath.Join(vol, "hack", "bad"))
	f, err := openSubpath(vol, "hack/good")
	if err != nil {
		t.Fatalf("link inside: %v", err)
	}
	target, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	f.Close()
	if real, _ := filepath.EvalSymlinks(filepath.Join(vol, "subdir")); target != real {
		t.Fatalf("hack/good opened %s", target)
	}
	for _, sub := range []string{"hack/root", "hack/bad", ".."} {
		if _, err := openSubpath(vol, sub); err == nil || !strings.Contains(err.Error(), "path concatenation escapes the base directory") {
			t.Errorf("%s: %v", sub, err)
		}
	}
	if _, err := openSubpath(vol, "missing"); err == nil || !strings.HasPrefix(err.Error(), "cannot access path ") || !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("missing: %v", err)
	}
}
