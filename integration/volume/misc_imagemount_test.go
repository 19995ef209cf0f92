package volume

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// miscImageMountImage builds an image of several layers (so that its mount
// is an overlay) holding /foo, /subdir/hello and the links /hack/good (to
// ../subdir) and /hack/bad (out of the image).
func miscImageMountImage(t *testing.T, tag string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile": "FROM busybox AS links\nRUN mkdir /hack && ln -s ../subdir /hack/good && ln -s ../../../../../ /hack/bad\n" +
			"FROM scratch\nCOPY foo /\nCOPY subdir subdir\nCOPY --from=links /hack /hack\n",
		"foo":          "bar",
		"subdir/hello": "world",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d.DockerT(t, "build", "-q", "-t", tag, dir)
	t.Cleanup(func() { d.Docker("rmi", "-f", tag) })
}

// `--mount type=image` shows an image read-only in a container, whole or
// an image-subpath of it (subpaths checked as volume-subpaths are), at
// several places at once; its image cannot lose its last tag without
// force, and a forced rmi leaves the container able to start again.
func TestMiscImageMount(t *testing.T) {
	d.LoadTestImages(t)
	img := "misc-imagemount:" + uniq(t, "v")
	miscImageMountImage(t, img)
	run := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(d.DockerT(t, append([]string{"run", "--rm"}, args...)...))
	}
	m := func(extra string) string { return "type=image,source=" + img + ",target=/image" + extra }

	if out := run("--mount", m(""), "busybox", "cat", "/image/foo"); out != "bar" {
		t.Errorf("whole image: %q", out)
	}
	if msg := dockerErr(t, d, "run", "--rm", "--mount", m(""), "busybox", "touch", "/image/x"); !strings.Contains(msg, "Read-only file system") {
		t.Errorf("write into the image mount: %q", msg)
	}
	if out := run("--mount", m(",image-subpath=hack/good"), "busybox", "ls", "/image"); out != "hello" {
		t.Errorf("subpath through a link in the image: %q", out)
	}
	if out := run("--mount", "type=image,source="+img+",target=/etc/localtime,image-subpath=subdir/hello", "busybox", "cat", "/etc/localtime"); out != "world" {
		t.Errorf("a file over a file: %q", out)
	}
	if msg := dockerErr(t, d, "run", "--rm", "--mount", m(",image-subpath=hack/bad"), "busybox", "true"); !strings.Contains(msg, "path concatenation escapes the base directory") {
		t.Errorf("subpath leaving the image: %q", msg)
	}
	if msg := dockerErr(t, d, "run", "--rm", "--mount", m(",image-subpath=nothere"), "busybox", "true"); !strings.Contains(msg, "cannot access path ") {
		t.Errorf("missing subpath: %q", msg)
	}
	if msg := dockerErr(t, d, "create", "--mount", m(",image-subpath=../../etc/passwd"), "busybox", "true"); !strings.Contains(msg, "subpath must be a relative path within the volume") {
		t.Errorf("subpath with backtracks: %q", msg)
	}
	if msg := dockerErr(t, d, "create", "--pull=never", "--mount", "type=image,source=misc-no-such-image,target=/image", "busybox", "true"); !strings.Contains(msg, "No such image") {
		t.Errorf("missing image: %q", msg)
	}
	// The single-layer busybox, twice.
	if out := run("--mount", "type=image,source=busybox,target=/etc/foo", "--mount", "type=image,source=busybox,target=/etc/bar",
		"busybox", "ls", "/etc/foo/bin/busybox", "/etc/bar/bin/busybox"); out != "/etc/bar/bin/busybox\n/etc/foo/bin/busybox" {
		t.Errorf("one image at two places: %q", out)
	}

	id := strings.TrimSpace(d.DockerT(t, "create", "--mount", m(""), "busybox", "cat", "/image/foo"))
	defer d.Docker("rm", "-f", id)
	if out := strings.TrimSpace(d.DockerT(t, "start", "-a", id)); out != "bar" {
		t.Fatalf("first run: %q", out)
	}
	if out := run("--volumes-from", id, "busybox", "cat", "/image/foo"); out != "bar" {
		t.Errorf("image mount through --volumes-from: %q", out)
	}
	if msg := dockerErr(t, d, "rmi", img); !strings.Contains(msg, "container "+id[:12]+" is using its referenced image") {
		t.Errorf("rmi of the mounted image: %q", msg)
	}
	d.DockerT(t, "rmi", "-f", img)
	if out := strings.TrimSpace(d.DockerT(t, "start", "-a", id)); out != "bar" {
		t.Errorf("run after rmi -f: %q", out)
	}
	var mounts []struct {
		Type, Name, Destination string
		RW                      bool
	}
	if err := json.Unmarshal([]byte(d.DockerT(t, "inspect", "--format", "{{json .Mounts}}", id)), &mounts); err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 || mounts[0].Type != "image" || mounts[0].Name != img || mounts[0].Destination != "/image" || mounts[0].RW {
		t.Errorf("inspect mounts: %+v", mounts)
	}
	// Nothing stays mounted once the container is gone.
	d.DockerT(t, "rm", id)
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(b), filepath.Join(d.DataRoot, "containers", id)) {
		t.Errorf("mounts of the removed container remain")
	}
}
