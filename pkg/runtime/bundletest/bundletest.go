package bundletest

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/runtime"
)

// Busybox is where Debian's busybox-static installs.
const Busybox = "/bin/busybox"

// Require fails (under CI=true) or skips the test when it cannot run real
// containers here.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	if _, err := os.Stat(Busybox); err != nil {
		missing = append(missing, Busybox+" (Debian's busybox-static)")
	}
	if len(missing) == 0 {
		return
	}
	msg := "container tests need " + strings.Join(missing, ", ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Rootfs writes a busybox root filesystem into dir/rootfs. The binary is
// copied, never linked, so that nothing a container does reaches the
// host's file.
func Rootfs(t testing.TB, dir string) string {
	t.Helper()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp", "root", "var", "usr"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(Busybox)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(rootfs, "bin", "busybox"), os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	out, err := exec.Command(Busybox, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			_ = os.Symlink("busybox", filepath.Join(rootfs, "bin", a))
		}
	}
	files := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":    "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
		"etc/hostname": "bundle\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return rootfs
}

// Bundle is one test bundle.
type Bundle struct {
	Dir  string
	Spec *specs.Spec
}

// New makes a bundle in a fresh temporary directory running args.
func New(t testing.TB, args ...string) *Bundle {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	Rootfs(t, dir)
	spec := runtime.DefaultSpec()
	spec.Process.Args = args
	spec.Hostname = "berth-test"
	spec.Linux.CgroupsPath = "/berth-test-" + filepath.Base(filepath.Dir(dir)) + "-" + filepath.Base(dir)
	return &Bundle{Dir: dir, Spec: spec}
}

// Write stores the spec as config.json, for the runtime command line.
func (b *Bundle) Write(t testing.TB) {
	t.Helper()
	data, err := json.MarshalIndent(b.Spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
