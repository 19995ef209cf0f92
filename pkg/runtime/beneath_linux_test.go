package runtime

import (
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root")
	}
	t.Skip("needs root")
}

// inMountNS runs fn on a thread of its own in a private mount namespace,
// so that its mounts vanish with the thread (never unlocked, it exits).
func inMountNS(t *testing.T, fn func()) {
	t.Helper()
	requireRoot(t)
	done := make(chan error)
	go func() {
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			done <- err
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func openDir(t *testing.T, p string) int {
	t.Helper()
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// Symlinks planted in the container's tree, absolute or climbing with
// "..", lead to the container's own directories, never the host's.
func TestInRootCreationStaysBeneath(t *testing.T) {
	host := t.TempDir()
	rootfs := t.TempDir()
	for name, target := range map[string]string{
		"abs": host, "rel": strings.Repeat("../", 20) + strings.TrimPrefix(host, "/"),
		"magic": "/proc/self/root" + host,
	} {
		if err := os.Symlink(target, filepath.Join(rootfs, name)); err != nil {
			t.Fatal(err)
		}
	}
	root := openDir(t, rootfs)
	for _, p := range []string{"/abs/x/y", "rel/x/z", "/../../abs/w"} {
		fd, err := mkdirInRoot(root, p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		unix.Close(fd)
	}
	if err := os.Symlink("/abs/resolv.conf", filepath.Join(rootfs, "dangling")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/abs/f", "/dangling"} {
		fd, err := fileInRoot(root, p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		unix.Close(fd)
	}
	// With a procfs in the container, /proc/self/root is a magic link to
	// the host's root: refused.
	if err := os.Mkdir(filepath.Join(rootfs, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	inMountNS(t, func() {
		if err := unix.Mount("/proc", filepath.Join(rootfs, "proc"), "", unix.MS_BIND, ""); err != nil {
			t.Error(err)
			return
		}
		nsRoot, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer unix.Close(nsRoot)
		if _, err := mkdirInRoot(nsRoot, "/magic/x"); !errors.Is(err, unix.ELOOP) {
			t.Errorf("a magic link was followed: %v", err)
		}
	})
	if entries, _ := os.ReadDir(host); len(entries) != 0 {
		t.Fatalf("created on the host: %v", entries)
	}
	for _, p := range []string{"x/y", "x/z", "w", "f", "resolv.conf"} {
		// Dangling symlinks are followed inside the root.
		if _, err := os.Lstat(filepath.Join(rootfs, host, p)); err != nil {
			t.Errorf("not created in the rootfs: %v", err)
		}
	}
}

func TestOpenDevNullVerifies(t *testing.T) {
	requireRoot(t)
	for name, make := range map[string]func(p string) error{
		"missing":  func(string) error { return nil },
		"file":     func(p string) error { return os.WriteFile(p, nil, 0o666) },
		"symlink":  func(p string) error { return os.Symlink("/dev/null", p) },
		"zero":     func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5))) },
		"block":    func(p string) error { return unix.Mknod(p, unix.S_IFBLK|0o666, int(unix.Mkdev(1, 3))) },
		"the null": func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) },
	} {
		rootfs := t.TempDir()
		if err := os.Mkdir(filepath.Join(rootfs, "dev"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := make(filepath.Join(rootfs, "dev/null")); err != nil {
			t.Fatal(err)
		}
		fd, err := openDevNull(openDir(t, rootfs))
		if name == "the null" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else {
				unix.Close(fd)
			}
			continue
		}
		if err == nil {
			unix.Close(fd)
			t.Errorf("%s: accepted as /dev/null", name)
		}
	}
}

// Masks: files get the null device, directories an empty read-only
// tmpfs, a path that does not exist is skipped, and a /dev/null that is
// not the null device fails instead of leaving the path unmasked.
func TestMaskPaths(t *testing.T) {
	rootfs := t.TempDir()
	for _, d := range []string{"dev", "proc/dir", "proc/other"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"proc/secret", "proc/dir/inner", "proc/other/secret"} {
		if err := os.WriteFile(filepath.Join(rootfs, f), []byte("secret"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	null := filepath.Join(rootfs, "dev/null")
	if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	inMountNS(t, func() {
		root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer unix.Close(root)
		if err := maskPaths(root, []string{"/proc/secret", "/proc/dir", "/proc/missing"}); err != nil {
			t.Errorf("mask: %v", err)
			return
		}
		if b, err := os.ReadFile(filepath.Join(rootfs, "proc/secret")); err != nil || len(b) != 0 {
			t.Errorf("masked file reads %q, %v", b, err)
		}
		if entries, _ := os.ReadDir(filepath.Join(rootfs, "proc/dir")); len(entries) != 0 {
			t.Errorf("masked directory shows %v", entries)
		}
		if err := os.WriteFile(filepath.Join(rootfs, "proc/dir/x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
			t.Errorf("masked directory is writable: %v", err)
		}
		// Another container sharing /dev swapped /dev/null for a file.
		if err := os.Remove(null); err != nil {
			t.Error(err)
			return
		}
		if err := os.WriteFile(null, []byte("not null"), 0o666); err != nil {
			t.Error(err)
			return
		}
		err = maskPaths(root, []string{"/proc/other/secret"})
		if err == nil || !strings.Contains(err.Error(), "/dev/null is not the null device") {
			t.Errorf("mask with a fake /dev/null: %v", err)
		}
		if err := os.Remove(null); err != nil {
			t.Error(err)
			return
		}
		err = maskPaths(root, []string{"/proc/other/secret"})
		if err == nil || !strings.Contains(err.Error(), "open /dev/null") {
			t.Errorf("mask without /dev/null: %v", err)
		}
	})
}

func TestCheckProcMount(t *testing.T) {
	proc, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(proc)
	tmp := openDir(t, t.TempDir())
	for _, c := range []struct {
		dest string
		bind bool
		typ  string
		src  int
		want string
	}{
		{"/proc", false, "proc", -1, ""},
		{"/proc", true, "bind", proc, ""},
		{"/proc", true, "bind", tmp, `"/proc" cannot be mounted because it is not of type proc`},
		{"/proc", false, "tmpfs", -1, `"/proc" cannot be mounted because it is not of type proc`},
		{"/proc/cpuinfo", true, "bind", tmp, ""},
		{"/proc/sys/kernel/ns_last_pid", true, "bind", tmp, ""},
		{"/proc/sys", false, "tmpfs", -1, `"/proc/sys" cannot be mounted because it is inside /proc`},
		{"/proc/sys/kernel/core_pattern", true, "bind", tmp, `"/proc/sys/kernel/core_pattern" cannot be mounted because it is inside /proc`},
		{"/proc/self/attr/exec", true, "bind", tmp, `"/proc/self/attr/exec" cannot be mounted because it is inside /proc`},
		{"/procfoo", true, "bind", tmp, ""},
		{"/data", true, "bind", tmp, ""},
	} {
		err := checkProcMount(c.dest, c.bind, c.typ, c.src)
		if got := ""; err != nil {
			got = err.Error()
			if got != c.want {
				t.Errorf("%s (%s): %q, want %q", c.dest, c.typ, got, c.want)
			}
		} else if c.want != "" {
			t.Errorf("%s (%s): allowed, want %q", c.dest, c.typ, c.want)
		}
	}
}

func TestApplyApparmor(t *testing.T) {
	var wrote []string
	write := func(lsm, value string) error {
		wrote = append(wrote, lsm+"="+value)
		return nil
	}
	if err := applyApparmor("", false, write); err != nil || len(wrote) != 0 {
		t.Errorf("no profile: %v %v", err, wrote)
	}
	if err := applyApparmor("docker-default", false, write); !errors.Is(err, errApparmorNotEnabled) || len(wrote) != 0 {
		t.Errorf("profile without AppArmor: %v %v", err, wrote)
	}
	if err := applyApparmor("docker-default", true, write); err != nil || !slices.Equal(wrote, []string{"apparmor=exec docker-default"}) {
		t.Errorf("profile: %v %v", err, wrote)
	}
	wrote = nil
	if err := applyApparmor("unconfined", true, write); err != nil || !slices.Equal(wrote, []string{"apparmor=exec unconfined"}) {
		t.Errorf("unconfined: %v %v", err, wrote)
	}
	failing := func(string, string) error { return unix.EACCES }
	if err := applyApparmor("x", true, failing); err == nil || !strings.Contains(err.Error(), "apparmor failed to apply profile") {
		t.Errorf("failed write: %v", err)
	}

	sys := t.TempDir()
	if apparmorEnabledIn(sys) {
		t.Error("enabled without securityfs")
	}
	if err := os.MkdirAll(filepath.Join(sys, "kernel/security/apparmor"), 0o755); err != nil {
		t.Fatal(err)
	}
	if apparmorEnabledIn(sys) {
		t.Error("enabled without the module parameter")
	}
	param := filepath.Join(sys, "module/apparmor/parameters/enabled")
	if err := os.MkdirAll(filepath.Dir(param), 0o755); err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{"N\n": false, "Y\n": true} {
		if err := os.WriteFile(param, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := apparmorEnabledIn(sys); got != want {
			t.Errorf("enabled=%q: %v", v, got)
		}
	}
}

func TestOnProcfs(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := onProcfs(int(f.Fd())); err == nil {
		t.Error("a regular file passed as procfs")
	}
	p, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := onProcfs(int(p.Fd())); err != nil {
		t.Error(err)
	}
}

// A file mounted over /proc/self/oom_score_adj (what a symlink race on the
// /proc mount can achieve) does not receive the write: it goes to the
// process's real procfs file (CVE-2025-52881).
func TestProcWriteIgnoresOvermounts(t *testing.T) {
	decoy := filepath.Join(t.TempDir(), "decoy")
	if err := os.WriteFile(decoy, []byte("decoy"), 0o644); err != nil {
		t.Fatal(err)
	}
	inMountNS(t, func() {
		tid := strconv.Itoa(unix.Gettid())
		target := "/proc/self/task/" + tid + "/oom_score_adj"
		cur, err := os.ReadFile(target)
		if err != nil {
			t.Error(err)
			return
		}
		if err := unix.Mount(decoy, target, "", unix.MS_BIND, ""); err != nil {
			t.Error(err)
			return
		}
		if err := procWrite(procThreadSelf, "oom_score_adj", []byte(strings.TrimSpace(string(cur)))); err != nil {
			t.Errorf("write: %v", err)
		}
		if b, _ := os.ReadFile(decoy); string(b) != "decoy" {
			t.Errorf("the write went to the overmount: %q", b)
		}
		f, err := openProc(procThreadSelf, "oom_score_adj", unix.O_RDONLY)
		if err != nil {
			t.Errorf("open: %v", err)
			return
		}
		defer f.Close()
		if err := onProcfs(int(f.Fd())); err != nil {
			t.Error(err)
		}
	})
	if _, err := openProc(procGlobal, "sys/kernel/ostype", unix.O_RDONLY); err != nil {
		t.Errorf("sysctl: %v", err)
	}
}

func TestMaskedPathsForThermalThrottle(t *testing.T) {
	sys := t.TempDir()
	cpu := filepath.Join(sys, "devices/system/cpu")
	for _, d := range []string{"cpu0/thermal_throttle", "cpu1", "cpu2/thermal_throttle", "cpu9/thermal_throttle"} {
		if err := os.MkdirAll(filepath.Join(cpu, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cpu, "possible"), []byte("0-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := maskedPathsFor(sys)
	want := []string{"/sys/devices/system/cpu/cpu0/thermal_throttle", "/sys/devices/system/cpu/cpu2/thermal_throttle"}
	if !slices.Equal(got[len(got)-2:], want) || slices.Contains(got, "/sys/devices/system/cpu/cpu9/thermal_throttle") {
		t.Errorf("masked paths %v", got)
	}
	for _, p := range []string{"/proc/timer_list", "/proc/interrupts", "/sys/devices/virtual/powercap", "/sys/firmware"} {
		if !slices.Contains(got, p) {
			t.Errorf("%s not masked", p)
		}
	}
	for in, want := range map[string][]int{"0": {0}, "0-3,5": {0, 1, 2, 3, 5}, "2-1": nil, "x": nil} {
		if err := os.WriteFile(filepath.Join(cpu, "possible"), []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := possibleCPUs(sys); !slices.Equal(got, want) {
			t.Errorf("possible %q: %v, want %v", in, got, want)
		}
	}
}

// A missing per-LSM attribute directory reads as "does not exist", which
// is what makes setLSMExecAttr fall back to attr/exec on older kernels.
func TestProcWriteMissingIsNotExist(t *testing.T) {
	requireRoot(t)
	err := procWrite(procThreadSelf, "attr/berth-no-such-lsm/exec", []byte("x"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing attribute: %v", err)
	}
}
