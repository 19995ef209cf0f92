package security

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/integration/internal/harness"
)

// The runtime's escape classes: mounts, masks and the console set up by
// path while another container changes a volume they go through
// (CVE-2021-30465, CVE-2025-31133), and mounts over /proc.

var (
	rtSwapOnce sync.Once
	rtSwapPath string
	rtSwapErr  error
)

// rtSwap builds the attacker program (testdata/rtswap), static so that it
// runs in the busybox test image, and returns its path on the host.
func rtSwap(t *testing.T) string {
	t.Helper()
	rtSwapOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rtswap")
		if err != nil {
			rtSwapErr = err
			return
		}
		rtSwapPath = filepath.Join(dir, "rtswap")
		cmd := exec.Command("go", "build", "-o", rtSwapPath, "./testdata/rtswap")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			rtSwapErr = err
			rtSwapPath = string(out)
		}
	})
	if rtSwapErr != nil {
		t.Fatalf("build rtswap: %v\n%s", rtSwapErr, rtSwapPath)
	}
	return rtSwapPath
}

// rtVolume creates a named volume, removed after the test.
func rtVolume(t *testing.T, dd *harness.Daemon, name string) string {
	t.Helper()
	name = name + "-" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-")
	dd.DockerT(t, "volume", "create", name)
	t.Cleanup(func() { dd.Docker("volume", "rm", "-f", name) })
	return name
}

// rtAttacker starts a container that runs rtswap with args, sharing
// volumeArgs with the victim, and waits until it runs.
func rtAttacker(t *testing.T, dd *harness.Daemon, volumeArgs []string, args ...string) {
	t.Helper()
	bin := rtSwap(t)
	a := append([]string{"-v", bin + ":/rtswap:ro"}, volumeArgs...)
	a = append(a, harness.BusyboxImage, "/rtswap")
	id := run(t, dd, append(a, args...)...)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, _, _ := dd.Docker("inspect", "-f", "{{.State.Running}}", id)
		if strings.TrimSpace(out) == "true" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	logs, _, _ := dd.Docker("logs", id)
	t.Fatalf("attacker container did not start: %s", logs)
}

// rtMountsUnder lists the host's mount points at or below dir.
func rtMountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	return points
}

// rtRun runs a short-lived container and returns its output and error.
func rtRun(dd *harness.Daemon, args ...string) (string, string, error) {
	return dd.Docker(append([]string{"run", "--rm", "--pull=never", "--network", "none"}, args...)...)
}

// A container sharing /dev through a volume removes /dev/null while
// another one starts: the masks must not be skipped (CVE-2025-31133).
// Before the fix a mask whose /dev/null had vanished was silently left
// out, and /proc/timer_list came up readable.
func TestRuntimeMaskHoldsWhenDevNullVanishes(t *testing.T) {
	dd := setup(t)
	vol := rtVolume(t, dd, "rtdev")
	rtAttacker(t, dd, []string{"-v", vol + ":/dev"}, "unlink", "/dev/null")
	deadline := time.Now().Add(15 * time.Second)
	failed := 0
	attempts := 0
	for ; attempts < 150 && time.Now().Before(deadline); attempts++ {
		out, errOut, err := rtRun(dd, "-v", vol+":/dev", harness.BusyboxImage, "head", "-c", "64", "/proc/timer_list")
		if err != nil {
			// Refusing to start is the fix's answer to a /dev/null
			// that is missing or not the null device.
			if !strings.Contains(errOut, "/dev/null") {
				t.Fatalf("attempt %d: start failed for another reason: %v\n%s", attempts, err, errOut)
			}
			failed++
			continue
		}
		if out != "" {
			t.Fatalf("attempt %d: /proc/timer_list is readable, its mask was skipped:\n%s", attempts, out)
		}
	}
	t.Logf("%d starts, %d refused over a missing or replaced /dev/null", attempts, failed)
}

// A container swaps a directory of a shared volume with a symlink to a
// host directory while another container starts with a mount below that
// directory (CVE-2021-30465). Nothing may be created or mounted on the
// host. The victim is a shared mount and the starting container's root is
// rshared (a bind with rshared propagation), so that a mount landing on
// the host side would show in the host's mount table too.
func TestRuntimeMountTargetSymlinkRace(t *testing.T) {
	dd := setup(t)
	tmp := t.TempDir()
	victim := filepath.Join(tmp, "victim")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(victim, victim, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { harness.UnmountUnder(tmp) })
	if err := unix.Mount("", victim, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	vol := rtVolume(t, dd, "rtrace")
	rtAttacker(t, dd, []string{"-v", vol + ":/vol"}, "exchange", "/vol", victim)
	deadline := time.Now().Add(15 * time.Second)
	attempts, started := 0, 0
	for ; attempts < 150 && time.Now().Before(deadline); attempts++ {
		if _, _, err := rtRun(dd, "-v", vol+":/vol",
			"--mount", "type=bind,src="+victim+",dst=/shared,bind-propagation=rshared",
			"--tmpfs", "/vol/d/sub", harness.BusyboxImage, "true"); err == nil {
			started++
		}
		entries, err := os.ReadDir(victim)
		if err != nil {
			t.Fatal(err)
		}
		mounts := rtMountsUnder(t, victim)
		if len(entries) != 0 || len(mounts) != 1 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("attempt %d: the start reached the host: entries %v in %s, mounts %v", attempts, names, victim, mounts)
		}
	}
	t.Logf("%d starts (%d ran), nothing reached the host", attempts, started)
}

// Mounts over /proc are refused as runc refuses them: only a procfs on
// /proc itself, and below it only the files lxcfs emulates.
func TestRuntimeRefusesMountsOverProc(t *testing.T) {
	dd := setup(t)
	f := hostFile(t, "not a proc file\n")
	for _, c := range []struct{ src, dst, want string }{
		{f, "/proc/sys/kernel/core_pattern", `"/proc/sys/kernel/core_pattern" cannot be mounted because it is inside /proc`},
		{f, "/proc/self/attr/exec", `"/proc/self/attr/exec" cannot be mounted because it is inside /proc`},
		{filepath.Dir(f), "/proc", `"/proc" cannot be mounted because it is not of type proc`},
	} {
		_, errOut, err := rtRun(dd, "-v", c.src+":"+c.dst+":ro", harness.BusyboxImage, "true")
		if err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("-v %s:%s: err %v, stderr %q; want %q", c.src, c.dst, err, errOut, c.want)
		}
	}
	// What lxcfs does stays possible.
	out, errOut, err := rtRun(dd, "-v", f+":/proc/cpuinfo:ro", harness.BusyboxImage, "cat", "/proc/cpuinfo")
	if err != nil || out != "not a proc file\n" {
		t.Errorf("-v %s:/proc/cpuinfo: %v %q %q", f, err, out, errOut)
	}
}
