package volume

import (
	"strings"
	"testing"
)

// TestCompatSubpath: a volume subpath follows symlinks that stay in the
// volume, refuses those that leave it with dockerd's text, and is seeded
// with the image's content like a whole volume.
func TestCompatSubpath(t *testing.T) {
	d.LoadTestImages(t)
	v := uniq(t, "sub")
	rmAll(t, d, v)
	mnt := "type=volume,source=" + v + ",target=/volume"
	d.DockerT(t, "run", "--rm", "--mount", mnt, "busybox", "sh", "-c",
		"mkdir /volume/subdir /volume/bin /volume/hack && echo world > /volume/subdir/hello && ln -s / /volume/hack/root && ln -s ../subdir /volume/hack/good")
	sub := func(p string) string { return "type=volume,source=" + v + ",target=/s,volume-subpath=" + p }
	if out := strings.TrimSpace(d.DockerT(t, "run", "--rm", "--mount", sub("hack/good"), "busybox", "cat", "/s/hello")); out != "world" {
		t.Errorf("link inside the volume: %q", out)
	}
	if msg := dockerErr(t, d, "run", "--rm", "--mount", sub("hack/root"), "busybox", "true"); !strings.Contains(msg, "path concatenation escapes the base directory") {
		t.Errorf("link out of the volume: %s", msg)
	}
	if msg := dockerErr(t, d, "run", "--rm", "--mount", sub("nothere"), "busybox", "true"); !strings.Contains(msg, "cannot access path ") {
		t.Errorf("missing subpath: %s", msg)
	}
	// /bin of the image fills the empty subpath mounted over it.
	binMnt := "type=volume,source=" + v + ",target=/bin,volume-subpath=bin"
	if out := strings.TrimSpace(d.DockerT(t, "run", "--rm", "--mount", binMnt, "busybox", "ls", "/bin/busybox")); out != "/bin/busybox" {
		t.Errorf("copy into the subpath: %q", out)
	}
}
