package containerfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCpFilesDirsSymlinks covers docker cp both ways on a running
// container, with dockerd's answers for the hard cases.
func TestCpFilesDirsSymlinks(t *testing.T) {
	dd := setup(t)
	c := run(t, dd, "busybox", "sleep", "300")
	w := t.TempDir()
	os.MkdirAll(filepath.Join(w, "src", "sub"), 0o755)
	writeFile(t, filepath.Join(w, "src", "a"), "A")
	writeFile(t, filepath.Join(w, "src", "sub", "b"), "B")
	os.Symlink("a", filepath.Join(w, "src", "lnk"))

	// A file to a new name, and back.
	dd.DockerT(t, "cp", filepath.Join(w, "src", "a"), c+":/tmp/f")
	if got := exec(t, dd, c, "cat", "/tmp/f"); got != "A" {
		t.Fatalf("copied file holds %q", got)
	}
	dd.DockerT(t, "cp", c+":/tmp/f", filepath.Join(w, "g"))
	if got := readFile(t, filepath.Join(w, "g")); got != "A" {
		t.Fatalf("copied back %q", got)
	}
	// A directory: created under its own name, with its symlink as a link.
	dd.DockerT(t, "cp", filepath.Join(w, "src"), c+":/tmp/d")
	if got := exec(t, dd, c, "sh", "-c", "cat /tmp/d/a /tmp/d/sub/b; readlink /tmp/d/lnk"); got != "ABa" {
		t.Fatalf("copied dir: %q", got)
	}
	// Trailing /. copies the contents into an existing directory.
	exec(t, dd, c, "mkdir", "/tmp/e")
	dd.DockerT(t, "cp", filepath.Join(w, "src")+"/.", c+":/tmp/e")
	if got := exec(t, dd, c, "ls", "/tmp/e"); got != "a\nlnk\nsub" {
		t.Fatalf("contents copy: %q", got)
	}
	dd.DockerT(t, "cp", c+":/tmp/e/.", filepath.Join(w, "out"))
	if got := readFile(t, filepath.Join(w, "out", "sub", "b")); got != "B" {
		t.Fatalf("contents copy out: %q", got)
	}
	// A file onto a directory lands inside it.
	dd.DockerT(t, "cp", filepath.Join(w, "src", "a"), c+":/tmp/e/sub")
	if got := exec(t, dd, c, "cat", "/tmp/e/sub/a"); got != "A" {
		t.Fatalf("file onto dir: %q", got)
	}
	// Into a missing directory (trailing slash) is an error; a directory
	// onto a file too.
	mustContain(t, fails(t, dd, "cp", filepath.Join(w, "src", "a"), c+":/missing/"), "no such directory")
	mustContain(t, fails(t, dd, "cp", filepath.Join(w, "src"), c+":/tmp/f"), "cannot copy directory")
	// A missing source: dockerd's 404 message.
	mustContain(t, fails(t, dd, "cp", c+":/nope", w), "Could not find the file /nope in container "+c)

	// Symlinks the container made: copied as links, followed with -L, and
	// resolved inside the container's root when on the path.
	exec(t, dd, c, "sh", "-c", "echo secret > /tmp/s; ln -s /tmp/s /tmp/abs; ln -s / /tmp/root; ln -s ../../../../../../etc /tmp/up")
	dd.DockerT(t, "cp", c+":/tmp/abs", filepath.Join(w, "l1"))
	if tgt, err := os.Readlink(filepath.Join(w, "l1")); err != nil || tgt != "/tmp/s" {
		t.Fatalf("symlink copied as %q %v", tgt, err)
	}
	dd.DockerT(t, "cp", "-L", c+":/tmp/abs", filepath.Join(w, "l2"))
	if got := readFile(t, filepath.Join(w, "l2")); got != "secret\n" {
		t.Fatalf("-L copy: %q", got)
	}
	hostname := exec(t, dd, c, "cat", "/etc/hostname")
	for _, p := range []string{"/tmp/root/etc/hostname", "/tmp/up/hostname"} {
		out := filepath.Join(w, "h"+fmt.Sprint(len(p)))
		dd.DockerT(t, "cp", c+":"+p, out)
		if got := strings.TrimSpace(readFile(t, out)); got != hostname {
			t.Fatalf("%s resolved to a file holding %q, want the container's %q", p, got, hostname)
		}
	}
	// Copying into a path through the container's symlink to / writes the
	// container's root, not the host's.
	marker := "bt-cp-" + filepath.Base(w)
	writeFile(t, filepath.Join(w, marker), "x")
	dd.DockerT(t, "cp", filepath.Join(w, marker), c+":/tmp/root/")
	exec(t, dd, c, "test", "-f", "/"+marker)
	if _, err := os.Stat("/" + marker); err == nil {
		os.Remove("/" + marker)
		t.Fatal("docker cp wrote to the host's root")
	}
}

// TestCpStoppedWithVolumes copies into and out of a stopped container,
// including its named volume and binds as it would see them, and leaves
// no mount behind.
func TestCpStoppedWithVolumes(t *testing.T) {
	dd := setup(t)
	host := t.TempDir()
	roHost := t.TempDir()
	vol := "cpvol-" + filepath.Base(host)
	t.Cleanup(func() { dd.Docker("volume", "rm", "-f", vol) })
	c := run(t, dd, "-v", vol+":/data", "-v", host+":/bind", "-v", roHost+":/robind:ro", "busybox", "sleep", "300")
	dd.DockerT(t, "stop", "-t", "0", c)
	w := t.TempDir()
	writeFile(t, filepath.Join(w, "f"), "F")

	dd.DockerT(t, "cp", filepath.Join(w, "f"), c+":/data/f")
	dd.DockerT(t, "cp", filepath.Join(w, "f"), c+":/bind/f")
	dd.DockerT(t, "cp", filepath.Join(w, "f"), c+":/root/f")
	mp := strings.TrimSpace(dd.DockerT(t, "volume", "inspect", "-f", "{{.Mountpoint}}", vol))
	if got := readFile(t, filepath.Join(mp, "f")); got != "F" {
		t.Fatalf("volume got %q", got)
	}
	if got := readFile(t, filepath.Join(host, "f")); got != "F" {
		t.Fatalf("bind got %q", got)
	}
	mustContain(t, fails(t, dd, "cp", filepath.Join(w, "f"), c+":/robind/f"), "mounted volume is marked read-only")
	if _, err := os.Stat(filepath.Join(roHost, "f")); err == nil {
		t.Fatal("read-only bind was written")
	}
	// Out of the stopped container, from each place.
	for _, p := range []string{"/data/f", "/bind/f", "/root/f"} {
		out := filepath.Join(w, "o"+strings.ReplaceAll(p, "/", "_"))
		dd.DockerT(t, "cp", c+":"+p, out)
		if got := readFile(t, out); got != "F" {
			t.Fatalf("%s: %q", p, got)
		}
	}
	noMountsUnder(t, filepath.Join(dd.DataRoot, "containers"))
	// The running container sees what was copied while it was stopped.
	dd.DockerT(t, "start", c)
	if got := exec(t, dd, c, "cat", "/data/f", "/bind/f", "/root/f"); got != "FFF" {
		t.Fatalf("after start: %q", got)
	}
	// And cp into its volume while it runs.
	dd.DockerT(t, "cp", filepath.Join(w, "f"), c+":/data/g")
	if got := readFile(t, filepath.Join(mp, "g")); got != "F" {
		t.Fatalf("running volume got %q", got)
	}
	mustContain(t, fails(t, dd, "cp", filepath.Join(w, "f"), c+":/robind/"), "mounted volume is marked read-only")
}

// TestCpReadonlyRootfs refuses a copy into a read-only root with
// dockerd's message.
func TestCpReadonlyRootfs(t *testing.T) {
	dd := setup(t)
	c := run(t, dd, "--read-only", "busybox", "sleep", "300")
	w := t.TempDir()
	writeFile(t, filepath.Join(w, "f"), "F")
	mustContain(t, fails(t, dd, "cp", filepath.Join(w, "f"), c+":/tmp/"), "container rootfs is marked read-only")
}

// TestCpSymlinkSwapRace has the container swap a directory and a symlink
// to a host path as fast as it can while the host copies in and out
// through it. No copy may read or write the host path.
func TestCpSymlinkSwapRace(t *testing.T) {
	dd := setup(t)
	canary := t.TempDir()
	writeFile(t, filepath.Join(canary, "secret"), "HOST")
	// The same path exists in the container, so the link is never
	// dangling there: a resolution in the container's root succeeds.
	script := fmt.Sprintf("mkdir -p %[1]s; echo CTR > %[1]s/secret; while :; do rm -rf /w; mkdir /w; echo CTR > /w/secret; rm -rf /w; ln -s %[1]s /w; done", canary)
	c := run(t, dd, "busybox", "sh", "-c", script)
	w := t.TempDir()
	writeFile(t, filepath.Join(w, "evil"), "EVIL")
	for i := 0; i < 40; i++ {
		dd.Docker("cp", filepath.Join(w, "evil"), c+":/w/")
		out := filepath.Join(w, fmt.Sprintf("got%d", i))
		if _, _, err := dd.Docker("cp", c+":/w/secret", out); err == nil {
			if got, _ := os.ReadFile(out); strings.Contains(string(got), "HOST") {
				t.Fatalf("iteration %d: docker cp read the host's file", i)
			}
		}
		if _, err := os.Stat(filepath.Join(canary, "evil")); err == nil {
			t.Fatalf("iteration %d: docker cp wrote into the host directory", i)
		}
	}
	if got := readFile(t, filepath.Join(canary, "secret")); got != "HOST" {
		t.Fatalf("host file changed: %q", got)
	}
}
