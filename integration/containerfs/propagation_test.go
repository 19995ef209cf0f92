package containerfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestBindPropagationRshared mounts a tmpfs inside a container below an
// rshared bind mount and finds it on the host. As with dockerd, the
// source must sit on a shared mount; the test makes one.
func TestBindPropagationRshared(t *testing.T) {
	dd := setup(t)
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(src, 0o755)
	if err := unix.Mount(src, src, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { harness.UnmountUnder(src) })
	if err := unix.Mount("", src, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	dd.DockerT(t, "run", "--pull=never", "--rm", "--network", "none", "--privileged", "-v", src+":/x:rshared", "busybox",
		"sh", "-c", "mkdir -p /x/sub && mount -t tmpfs t /x/sub && echo propagated > /x/sub/f")
	b, err := os.ReadFile(filepath.Join(src, "sub", "f"))
	if err != nil || strings.TrimSpace(string(b)) != "propagated" {
		t.Fatalf("mount made in the container is not visible on the host: %q %v", b, err)
	}
	// rprivate (the default) keeps the container's mounts to itself.
	dd.DockerT(t, "run", "--pull=never", "--rm", "--network", "none", "--privileged", "-v", src+":/x", "busybox",
		"sh", "-c", "mkdir -p /x/other && mount -t tmpfs t /x/other && echo hidden > /x/other/f")
	if _, err := os.Stat(filepath.Join(src, "other", "f")); err == nil {
		t.Fatal("a mount under a private bind reached the host")
	}
}

// TestVolumeSubpath mounts one directory of a named volume with
// --mount volume-subpath, and refuses a subpath that climbs out of it.
func TestVolumeSubpath(t *testing.T) {
	dd := setup(t)
	vol := "subvol-" + filepath.Base(t.TempDir())
	t.Cleanup(func() { dd.Docker("volume", "rm", "-f", vol) })
	dd.DockerT(t, "run", "--pull=never", "--rm", "--network", "none", "-v", vol+":/data", "busybox",
		"sh", "-c", "mkdir -p /data/sub && echo inner > /data/sub/f && echo outer > /data/top")
	out := dd.DockerT(t, "run", "--pull=never", "--rm", "--network", "none",
		"--mount", "type=volume,src="+vol+",dst=/sp,volume-subpath=sub", "busybox", "sh", "-c", "cat /sp/f; ls /sp")
	if strings.TrimSpace(out) != "inner\nf" {
		t.Fatalf("subpath view: %q", out)
	}
	if _, _, err := dd.Docker("run", "--pull=never", "--rm", "--network", "none",
		"--mount", "type=volume,src="+vol+",dst=/sp,volume-subpath=../..", "busybox", "true"); err == nil {
		t.Fatal("a subpath outside the volume was mounted")
	}
	if strings.Contains(readMountinfo(t), "subpaths") {
		t.Fatal("a subpath bind mount was left behind")
	}
}

func readMountinfo(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
