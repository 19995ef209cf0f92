package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/volume"
)

// needRoot skips without root, and fails under CI where root is a given.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("missing prerequisite: root")
	}
	t.Skip("missing prerequisite: root")
}

// cleanupMounts unmounts whatever a test left below dir, even when it
// failed half-way.
func cleanupMounts(t *testing.T, dir string) {
	t.Cleanup(func() {
		points, err := mountPoints()
		if err != nil {
			return
		}
		for _, p := range mountedUnder(points, dir) {
			unix.Unmount(p, unix.MNT_DETACH)
		}
	})
}

func isMounted(t *testing.T, p string) bool {
	t.Helper()
	points, err := mountPoints()
	if err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return points[real]
}

func TestValidateNameAndOpts(t *testing.T) {
	for name, want := range map[string]string{
		"a":       "volume name is too short, names should be at least two alphanumeric characters",
		"../x":    `"../x" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
		"_hidden": `"_hidden" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
		"a/b":     `"a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
	} {
		err := ValidateName(name)
		if err == nil || err.Error() != want || !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%q: %v", name, err)
		}
	}
	for _, ok := range []string{"ab", "a.b-c_d", "0x"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{"bogus": "1"}, `invalid option: "bogus"`},
		{map[string]string{"type": "tmpfs"}, `missing required option: "device"`},
		{map[string]string{"device": "tmpfs"}, `missing required option: "type"`},
		{map[string]string{"o": "size=1m", "type": "tmpfs"}, `missing required option: "device"`},
		{map[string]string{"size": "10m"}, "quota size requested but no quota support"},
		{map[string]string{"size": "ten"}, "invalid size: 'ten'"},
	} {
		err := ValidateOpts(tc.opts)
		if err == nil || err.Error() != tc.want || !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%v: %v, want %q", tc.opts, err, tc.want)
		}
	}
}

func TestCreateGetListRemove(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "volumes")
	r, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.Create(ctx, "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Path() != filepath.Join(dir, "data", "_data") || v.DriverName() != "local" || v.CreatedAt().IsZero() {
		t.Fatalf("volume %s %s %v", v.Path(), v.DriverName(), v.CreatedAt())
	}
	if fi, err := os.Stat(v.Path()); err != nil || !fi.IsDir() {
		t.Fatal(err)
	}
	again, err := r.Create(ctx, "data", nil)
	if err != nil || again != v {
		t.Fatalf("create is not idempotent: %v", err)
	}
	if _, err := r.Get(ctx, "nope"); !errors.Is(err, volume.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	os.WriteFile(filepath.Join(v.Path(), "f"), []byte("12345"), 0o644)
	os.Link(filepath.Join(v.Path(), "f"), filepath.Join(v.Path(), "g"))
	if n, err := v.(volume.Sizer).Size(ctx); err != nil || n != 5 {
		t.Fatalf("size %d %v (a hard link counts once)", n, err)
	}
	p, err := v.Mount(ctx, "c1")
	if err != nil || p != v.Path() {
		t.Fatal(p, err)
	}
	if err := r.Remove(ctx, v); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("remove while mounted: %v", err)
	}
	v.Unmount(ctx, "c1")
	if err := r.Remove(ctx, v); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Fatalf("volume directory left: %v", err)
	}
	ls, _ := r.List(ctx)
	if len(ls) != 0 {
		t.Fatalf("list after remove: %d", len(ls))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("left in volumes dir: %v", entries)
	}
}

func TestTmpfsOptionsMountOnFirstUnmountOnLast(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "volumes")
	cleanupMounts(t, dir)
	r, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.Create(ctx, "tmp", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1234,gid=2345,mode=0750"})
	if err != nil {
		t.Fatal(err)
	}
	if isMounted(t, v.Path()) {
		t.Fatal("mounted at create; dockerd mounts on first use")
	}
	p, err := v.Mount(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !isMounted(t, p) {
		t.Fatal("not mounted after first Mount")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.TMPFS_MAGIC || uint64(st.Blocks)*uint64(st.Bsize) != 1<<20 {
		t.Fatalf("fs type %#x size %d", st.Type, uint64(st.Blocks)*uint64(st.Bsize))
	}
	fi, _ := os.Stat(p)
	sys := fi.Sys().(*syscall.Stat_t)
	if sys.Uid != 1234 || sys.Gid != 2345 || fi.Mode().Perm() != 0o750 {
		t.Fatalf("owner %d:%d mode %v", sys.Uid, sys.Gid, fi.Mode())
	}
	// A second container shares the mount; the first leaving keeps it.
	if _, err := v.Mount(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	v.Unmount(ctx, "c1")
	if !isMounted(t, p) {
		t.Fatal("unmounted while c2 still uses it")
	}
	// The size limit holds.
	big := make([]byte, 2<<20)
	if err := os.WriteFile(filepath.Join(p, "big"), big, 0o644); !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("write over the size limit: %v", err)
	}
	v.Unmount(ctx, "c2")
	if isMounted(t, p) {
		t.Fatal("still mounted after the last release")
	}

	// Persistence: a new driver over the same directory knows the options.
	r2, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := r2.Get(ctx, "tmp")
	if err != nil {
		t.Fatal(err)
	}
	if typ, dev, o := v2.(*localVolume).MountOptions(); typ != "tmpfs" || dev != "tmpfs" || !strings.Contains(o, "size=1m") {
		t.Fatalf("options after reload: %q %q %q", typ, dev, o)
	}
	if _, err := v2.Mount(ctx, "c3"); err != nil {
		t.Fatal(err)
	}
	// A daemon killed while the volume is mounted: the next start finds
	// the mount and undoes it once nobody takes it again.
	r3, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	v3, _ := r3.Get(ctx, "tmp")
	if !v3.(*localVolume).Mounted() {
		t.Fatal("restart did not notice the leftover mount")
	}
	r3.UnmountUnused()
	if isMounted(t, p) {
		t.Fatal("UnmountUnused left the mount")
	}
	if err := r3.Remove(ctx, v3); err != nil {
		t.Fatal(err)
	}
}

func TestBindOptionsKeepHostDataOnRemove(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "volumes")
	host := filepath.Join(base, "host")
	os.Mkdir(host, 0o755)
	os.WriteFile(filepath.Join(host, "keep"), []byte("x"), 0o644)
	cleanupMounts(t, dir)
	r, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.Create(ctx, "b1", map[string]string{"type": "none", "o": "bind,ro", "device": host})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Mount(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(p, "keep")); err != nil || string(b) != "x" {
		t.Fatalf("bind content: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(p, "new"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Fatalf("write through a ro bind: %v", err)
	}
	// A leftover mount at removal (a crashed daemon) is undone first, so
	// the removal cannot reach the host directory.
	r2, _ := New(dir)
	v2, _ := r2.Get(ctx, "b1")
	if err := r2.Remove(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(host, "keep")); err != nil {
		t.Fatalf("host data lost: %v", err)
	}

	// A bind to a missing device fails at mount with dockerd's prefix.
	v3, err := r.Create(ctx, "b2", map[string]string{"type": "none", "o": "bind", "device": filepath.Join(base, "missing")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v3.Mount(ctx, "c1"); err == nil || !strings.HasPrefix(err.Error(), "failed to mount local volume: mount ") {
		t.Fatalf("mount of a missing device: %v", err)
	}
}

func TestInterruptedRemovalIsFinished(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "volumes")
	os.MkdirAll(filepath.Join(dir, removingPrefix+"old-1234", DataDirName), 0o755)
	os.MkdirAll(filepath.Join(dir, "kept", DataDirName), 0o755)
	r, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, removingPrefix+"old-1234")); !os.IsNotExist(err) {
		t.Fatal("half-removed volume left")
	}
	if _, err := r.Get(context.Background(), "kept"); err != nil {
		t.Fatal(err)
	}
}

func TestParseMountOptions(t *testing.T) {
	flags, prop, data := parseMountOptions("bind,ro,nosuid,rshared,size=1m,uid=5")
	if flags != unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID || prop != unix.MS_SHARED|unix.MS_REC || data != "size=1m,uid=5" {
		t.Fatalf("%#x %#x %q", flags, prop, data)
	}
	if got := unescapeMountPath(`/a\040b\134c`); got != `/a b\c` {
		t.Fatalf("unescape %q", got)
	}
}
