package containerfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNamedVolumeLifetime: data in a named volume outlives its container
// and a daemon restart and is seen by a second container; an empty new
// volume is seeded from the image (copy-up) unless nocopy.
func TestNamedVolumeLifetime(t *testing.T) {
	dd := setup(t)
	vol := "life-" + filepath.Base(t.TempDir())
	t.Cleanup(func() { dd.Docker("volume", "rm", "-f", vol, vol+"-etc", vol+"-nocopy") })
	dd.DockerT(t, "run", "--rm", "--network", "none", "-v", vol+":/data", "busybox", "sh", "-c", "echo kept > /data/f")
	if err := dd.Restart(false); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(dd.DockerT(t, "run", "--rm", "--network", "none", "-v", vol+":/d2", "busybox", "cat", "/d2/f")); got != "kept" {
		t.Fatalf("after restart: %q", got)
	}
	// Copy-up of an image directory into a new volume, and nocopy.
	if got := strings.TrimSpace(dd.DockerT(t, "run", "--rm", "--network", "none", "-v", vol+"-etc:/etc", "busybox", "cat", "/etc/motd")); got == "" {
		t.Fatal("copy-up left /etc/motd empty")
	}
	mp := strings.TrimSpace(dd.DockerT(t, "volume", "inspect", "-f", "{{.Mountpoint}}", vol+"-etc"))
	if _, err := os.Stat(filepath.Join(mp, "motd")); err != nil {
		t.Fatalf("volume not seeded: %v", err)
	}
	if got := strings.TrimSpace(dd.DockerT(t, "run", "--rm", "--network", "none", "-v", vol+"-nocopy:/etc:nocopy", "busybox", "ls", "/etc")); got != "" {
		t.Fatalf("nocopy volume holds %q", got)
	}
}

// TestVolumesFromReadonly: --volumes-from shares the volumes, :ro makes
// them read-only.
func TestVolumesFromReadonly(t *testing.T) {
	dd := setup(t)
	src := run(t, dd, "-v", "/shared", "busybox", "sh", "-c", "echo s > /shared/f; sleep 300")
	exec(t, dd, src, "test", "-f", "/shared/f")
	if got := strings.TrimSpace(dd.DockerT(t, "run", "--rm", "--network", "none", "--volumes-from", src, "busybox", "sh", "-c", "cat /shared/f; echo w > /shared/g && echo wrote")); got != "s\nwrote" {
		t.Fatalf("volumes-from: %q", got)
	}
	_, errOut, err := dd.Docker("run", "--rm", "--network", "none", "--volumes-from", src+":ro", "busybox", "sh", "-c", "echo x > /shared/h")
	if err == nil || !strings.Contains(errOut, "Read-only file system") {
		t.Fatalf("write through :ro: %v %s", err, errOut)
	}
}

// TestTmpfsAndBinds: tmpfs size limits, read-only binds refuse writes.
func TestTmpfsAndBinds(t *testing.T) {
	dd := setup(t)
	out := strings.TrimSpace(dd.DockerT(t, "run", "--rm", "--network", "none", "--tmpfs", "/t:size=1m", "busybox", "sh", "-c",
		"dd if=/dev/zero of=/t/f bs=1k count=2048 2>/dev/null && echo fit || echo full"))
	if out != "full" {
		t.Fatalf("1m tmpfs took 2 MiB: %q", out)
	}
	host := t.TempDir()
	_, errOut, err := dd.Docker("run", "--rm", "--network", "none", "-v", host+":/ro:ro", "busybox", "touch", "/ro/x")
	if err == nil || !strings.Contains(errOut, "Read-only file system") {
		t.Fatalf("read-only bind: %v %s", err, errOut)
	}
}

// TestMountOptions drives every --mount option.
func TestMountOptions(t *testing.T) {
	dd := setup(t)
	vol := "mopt-" + filepath.Base(t.TempDir())
	t.Cleanup(func() { dd.Docker("volume", "rm", "-f", vol, vol+"-t") })
	dd.DockerT(t, "run", "--rm", "--network", "none", "--mount", "type=volume,src="+vol+",dst=/v", "busybox", "sh", "-c", "mkdir -p /v/sub && echo sp > /v/sub/f")
	host := t.TempDir()
	os.Mkdir(filepath.Join(host, "inner"), 0o755)
	script := strings.Join([]string{
		"touch /ro/x 2>/dev/null || echo ro",        // readonly
		"ls /nc | wc -l",                            // volume-nocopy
		"grep ' /tv ' /proc/mounts | grep -c tmpfs", // volume-opt (a tmpfs-backed volume)
		"stat -c %a /tm",                            // tmpfs-mode
		"df -k /tm | tail -1 | awk '{print $2}'",    // tmpfs-size
		"touch /b/inner/y && echo bind",             // bind with bind-propagation and bind-recursive
	}, "; ")
	got := strings.TrimSpace(dd.DockerT(t, "run", "--rm", "--network", "none",
		"--mount", "type=volume,src="+vol+",dst=/ro,readonly",
		"--mount", "type=volume,dst=/nc/etc,volume-nocopy",
		"--mount", "type=volume,src="+vol+"-t,dst=/tv,volume-driver=local,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=1m",
		"--mount", "type=tmpfs,dst=/tm,tmpfs-size=2m,tmpfs-mode=1770",
		"--mount", "type=bind,src="+host+",dst=/b,bind-propagation=rslave,bind-recursive=disabled",
		"busybox", "sh", "-c", script))
	want := "ro\n1\n1\n1770\n2048\nbind"
	if got != want {
		t.Fatalf("mount options:\n%s\nwant\n%s", got, want)
	}
}

// TestBadMountInput: invalid specs, an in-use volume's removal and an
// unknown driver fail with dockerd's messages and change nothing.
func TestBadMountInput(t *testing.T) {
	dd := setup(t)
	before := dd.DockerT(t, "ps", "-aq")
	vols := dd.DockerT(t, "volume", "ls", "-q")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mount", "type=bind,src=/nonexistent-berth-src,dst=/x"}, "bind source path does not exist: /nonexistent-berth-src"},
		{[]string{"--mount", "type=volume,dst=relative"}, "invalid mount config"},
		{[]string{"--mount", "type=tmpfs,src=/x,dst=/t"}, "invalid mount config"},
	} {
		errOut := fails(t, dd, append(append([]string{"run", "--rm", "--network", "none"}, tc.args...), "busybox", "true")...)
		mustContain(t, errOut, tc.want)
	}
	if after := dd.DockerT(t, "ps", "-aq"); after != before {
		t.Fatalf("containers changed: %q -> %q", before, after)
	}
	if after := dd.DockerT(t, "volume", "ls", "-q"); after != vols {
		t.Fatalf("volumes changed: %q -> %q", vols, after)
	}
	vol := "inuse-" + filepath.Base(t.TempDir())
	c := run(t, dd, "-v", vol+":/d", "busybox", "sleep", "300")
	mustContain(t, fails(t, dd, "volume", "rm", vol), "volume is in use")
	exec(t, dd, c, "true")
	mustContain(t, fails(t, dd, "volume", "create", "-d", "nosuchdriver", vol+"-x"), "nosuchdriver")
}
