package security

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/integration/internal/harness"
)

// frzResult is one docker CLI call run under a deadline.
type frzResult struct {
	out      string
	err      error
	timedOut bool
}

// frzTimed runs the docker CLI and kills it (its own process, by PID) when
// it outlives limit: a daemon that stalls must fail the test, not hang it.
func frzTimed(dd *harness.Daemon, limit time.Duration, stdin string, args ...string) frzResult {
	cmd := dd.DockerCmd(args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Start(); err != nil {
		return frzResult{err: err}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return frzResult{out: buf.String(), err: err}
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return frzResult{out: buf.String(), timedOut: true}
	}
}

// frzMustAnswer fails the test when a docker command does not come back
// within a couple of seconds.
func frzMustAnswer(t *testing.T, dd *harness.Daemon, args ...string) frzResult {
	t.Helper()
	r := frzTimed(dd, 5*time.Second, "", args...)
	if r.timedOut {
		t.Errorf("docker %s did not answer within 5s: a container stalled the daemon", strings.Join(args, " "))
	}
	return r
}

// frzDir is one of the overlay directories inspect reports for a
// container ("MergedDir").
func frzDir(t *testing.T, dd *harness.Daemon, id, which string) string {
	t.Helper()
	dir := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.GraphDriver.Data."+which+"}}", id))
	if dir == "" || dir == "<no value>" {
		t.Fatalf("no %s for %s", which, id)
	}
	return dir
}

// frzUnblock releases whatever is blocked reading the FIFO at path (an
// engine without the fix) and puts a regular file in its place, so that
// the test's own clean-up can go on.
func frzUnblock(path string) {
	for i := 0; i < 50; i++ {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd) // the readers see EOF
		}
		time.Sleep(20 * time.Millisecond)
	}
	tmp := path + ".frz"
	if os.WriteFile(tmp, []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644) == nil {
		os.Rename(tmp, path)
	}
	for i := 0; i < 10; i++ {
		if fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
			unix.Close(fd)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// frzWaitFIFO waits until path is a FIFO, looking from the host side only.
func frzWaitFIFO(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not become a FIFO", path)
}

// frzCheckOthers asserts that the daemon still serves everyone else.
func frzCheckOthers(t *testing.T, dd *harness.Daemon, id string) {
	t.Helper()
	frzMustAnswer(t, dd, "ps")
	frzMustAnswer(t, dd, "info")
	frzMustAnswer(t, dd, "inspect", id)
	r := frzMustAnswer(t, dd, "run", "--rm", "--pull=never", "--network", "none", harness.BusyboxImage, "true")
	if !r.timedOut && r.err != nil {
		t.Errorf("another container did not run: %v\n%s", r.err, r.out)
	}
}

// frzExecNamedUser asserts that an exec as a user the container's (FIFO)
// passwd cannot name fails with dockerd's message instead of hanging.
func frzExecNamedUser(t *testing.T, dd *harness.Daemon, id string) {
	t.Helper()
	r := frzTimed(dd, 10*time.Second, "", "exec", "-u", "someuser", id, "true")
	switch {
	case r.timedOut:
		t.Errorf("docker exec -u someuser hung on a FIFO at /etc/passwd")
	case r.err == nil:
		t.Errorf("docker exec -u someuser succeeded with no passwd entry: %s", r.out)
	case !strings.Contains(r.out, "unable to find user someuser: no matching entries in passwd file"):
		t.Errorf("docker exec -u someuser: unexpected error: %s", r.out)
	}
}

// A container that turns its /etc/passwd into a FIFO must not stall its
// own health probe and execs, nor with them every client of the daemon.
func TestFreezeFIFOPasswdInContainer(t *testing.T) {
	dd := setup(t)
	id := strings.TrimSpace(dd.DockerT(t, "create", "--pull=never", "--network", "none",
		"--health-cmd", "true", "--health-interval", "1s",
		harness.BusyboxImage, "sh", "-c", "rm /etc/passwd && mkfifo /etc/passwd && exec sleep 3600"))
	t.Cleanup(func() { dd.Docker("rm", "-f", "-v", id) })
	// The merged view, not the upper directory: a change under a mounted
	// overlay's layer may never show through it.
	fifo := filepath.Join(frzDir(t, dd, id, "MergedDir"), "etc/passwd")
	// Runs before the removal above (clean-ups run last first).
	t.Cleanup(func() { frzUnblock(fifo) })
	if r := frzTimed(dd, 10*time.Second, "", "start", id); r.timedOut || r.err != nil {
		t.Fatalf("start: %+v", r)
	}
	frzWaitFIFO(t, fifo)
	// Let the first health probe reach the FIFO.
	time.Sleep(2 * time.Second)
	frzExecNamedUser(t, dd, id)
	frzCheckOthers(t, dd, id)
	// The probe itself goes on: with no usable passwd it runs as root.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := frzMustAnswer(t, dd, "inspect", "-f", "{{.State.Health.Status}}", id)
		if r.timedOut || strings.TrimSpace(r.out) == "healthy" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("health status stayed %q", strings.TrimSpace(r.out))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The same through an image: a FIFO at /etc/passwd and a HEALTHCHECK are
// all an image needs; starting it must not stall the daemon either.
func TestFreezeFIFOPasswdImage(t *testing.T) {
	dd := setup(t)
	tag := fmt.Sprintf("frz-fifo-passwd:%d", time.Now().UnixNano())
	dockerfile := "FROM " + harness.BusyboxImage + "\n" +
		"RUN rm /etc/passwd && mkfifo /etc/passwd\n" +
		"HEALTHCHECK --interval=1s CMD true\n"
	if r := frzTimed(dd, 60*time.Second, dockerfile, "build", "-q", "-t", tag, "-"); r.timedOut || r.err != nil {
		t.Fatalf("build: %+v", r)
	}
	t.Cleanup(func() { dd.Docker("rmi", "-f", tag) })
	id := strings.TrimSpace(dd.DockerT(t, "create", "--network", "none", tag, "sleep", "3600"))
	t.Cleanup(func() { dd.Docker("rm", "-f", "-v", id) })
	merged := frzDir(t, dd, id, "MergedDir")
	t.Cleanup(func() { frzUnblock(filepath.Join(merged, "etc/passwd")) })
	r := frzTimed(dd, 10*time.Second, "", "start", id)
	if r.timedOut {
		t.Fatalf("docker start hung on the image's FIFO /etc/passwd")
	}
	if r.err != nil {
		t.Fatalf("start: %v\n%s", r.err, r.out)
	}
	time.Sleep(2 * time.Second)
	frzExecNamedUser(t, dd, id)
	frzCheckOthers(t, dd, id)
}

// An /etc/passwd the container points at a host file must not be parsed.
// A lookup that checks a path in the root and then opens it by name loses
// a race: /etc/passwd is a symlink into /x whose target ends in thousands
// of "/." (each one more check), and the container swaps /x for an
// absolute symlink to the victim's directory and back as fast as it can,
// so that the open after the checks meets the symlink and reads the host
// file.
func TestFreezeSymlinkedPasswdNotFromHost(t *testing.T) {
	dd := setup(t)
	victim := hostFile(t, "victimuser:x:4242:4242::/victim:/bin/sh\n")
	dir := filepath.Dir(victim)
	if err := os.Rename(victim, filepath.Join(dir, "passwd.real")); err != nil {
		t.Fatal(err)
	}
	script := "mkdir /x && cp /etc/passwd /x/passwd.real && T=/x/passwd.real && i=0 && " +
		"while [ $i -lt 2000 ]; do T=$T/.; i=$((i+1)); done && ln -sf $T /etc/passwd && " +
		"ln -s " + dir + " /x.host && cd / && " +
		"while :; do mv /x /x.real; mv /x.host /x; mv /x /x.host; mv /x.real /x; done"
	id := run(t, dd, harness.BusyboxImage, "sh", "-c", script)
	frzExecVictim := func(id string) frzResult {
		t.Helper()
		r := frzTimed(dd, 10*time.Second, "", "exec", "-u", "victimuser", id, "/bin/busybox", "id", "-u")
		if r.timedOut {
			t.Fatalf("docker exec hung")
		}
		if r.err == nil || strings.Contains(r.out, "4242") {
			t.Fatalf("exec -u victimuser resolved the user from the host's %s: %s", dir, r.out)
		}
		return r
	}
	deadline := time.Now().Add(20 * time.Second)
	for tries := 0; time.Now().Before(deadline) && tries < 150; tries++ {
		frzExecVictim(id)
	}
	// The symlink alone, without a race, must not reach the host either.
	id2 := run(t, dd, harness.BusyboxImage, "sh", "-c", "ln -sf "+filepath.Join(dir, "passwd.real")+" /etc/passwd && exec sleep 3600")
	time.Sleep(500 * time.Millisecond)
	frzExecVictim(id2)
}

// net.* sysctls belong to a network namespace of the container's own:
// joining one that is the host's (directly or through a chain of
// container:X modes) must be refused, and the host's value stay as it was.
func TestSysctlNetRefusedInHostNamespace(t *testing.T) {
	dd := setup(t)
	const key = "net.ipv4.tcp_fin_timeout"
	proc := "/proc/sys/net/ipv4/tcp_fin_timeout"
	orig, err := os.ReadFile(proc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(proc, orig, 0o644) })
	n, err := strconv.Atoi(strings.TrimSpace(string(orig)))
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.Itoa(n + 7)
	hostNet := strings.TrimSpace(dd.DockerT(t, "run", "-d", "--pull=never", "--network", "host", harness.BusyboxImage, "sleep", "3600"))
	t.Cleanup(func() { dd.Docker("rm", "-f", "-v", hostNet) })
	chained := strings.TrimSpace(dd.DockerT(t, "run", "-d", "--pull=never", "--network", "container:"+hostNet, harness.BusyboxImage, "sleep", "3600"))
	t.Cleanup(func() { dd.Docker("rm", "-f", "-v", chained) })

	for _, target := range []string{hostNet, chained} {
		r := frzTimed(dd, 20*time.Second, "", "run", "--rm", "--pull=never", "--network", "container:"+target,
			"--sysctl", key+"="+want, harness.BusyboxImage, "cat", proc)
		if now, _ := os.ReadFile(proc); !bytes.Equal(now, orig) {
			t.Errorf("the host's %s changed from %s to %s", key, strings.TrimSpace(string(orig)), strings.TrimSpace(string(now)))
			os.WriteFile(proc, orig, 0o644)
		}
		if r.timedOut || r.err == nil || !strings.Contains(r.out, "not allowed in host network namespace") {
			t.Errorf("--sysctl %s with --network container:%s: %+v", key, target[:12], r)
		}
	}
	// A namespace of its own ("none" is one) takes it.
	out := dd.DockerT(t, "run", "--rm", "--pull=never", "--network", "none", "--sysctl", key+"="+want, harness.BusyboxImage, "cat", proc)
	if strings.TrimSpace(out) != want {
		t.Errorf("--network none --sysctl %s=%s: read %q", key, want, out)
	}
}

// docker export of a running container lasts as long as its files and the
// client's reading make it: a client that stops reading must not hold up
// docker ps, inspect or info for everyone else.
func TestFreezeExportWithSlowReader(t *testing.T) {
	dd := setup(t)
	id := run(t, dd, harness.BusyboxImage, "sh", "-c", "dd if=/dev/zero of=/big bs=1M count=32 2>/dev/null; touch /ready; exec sleep 3600")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, err := dd.Docker("exec", id, "test", "-e", "/ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container did not write its file")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A pipe nobody reads: the CLI blocks on it, then the daemon on the
	// connection.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := dd.DockerCmd("export", id)
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		r.Close()
		cmd.Wait()
		w.Close()
	})
	time.Sleep(2 * time.Second)
	frzMustAnswer(t, dd, "ps")
	frzMustAnswer(t, dd, "inspect", id)
	frzMustAnswer(t, dd, "info")
}

// frzPeakRSS is the daemon's peak resident memory, in KiB.
func frzPeakRSS(t *testing.T, dd *harness.Daemon) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", dd.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// A health probe's output is the container's to write: one that writes
// without end until its timeout must not grow the daemon's memory with it
// (dockerd keeps its first 4 KiB, after its timeout message and before a
// "..." that says it dropped the rest).
func TestFreezeHealthProbeFlood(t *testing.T) {
	dd := setup(t)
	before := frzPeakRSS(t, dd)
	id := run(t, dd, "--health-cmd", "yes", "--health-timeout", "5s", "--health-interval", "1s", harness.BusyboxImage, "sleep", "3600")
	time.Sleep(13 * time.Second)
	grown := frzPeakRSS(t, dd) - before
	t.Logf("peak memory grew by %d KiB", grown)
	if grown > 64<<10 {
		t.Errorf("the daemon's peak memory grew by %d MiB while a probe wrote", grown>>10)
	}
	r := frzMustAnswer(t, dd, "inspect", "-f", "{{range .State.Health.Log}}{{len .Output}} {{end}}", id)
	const most = len("Health check exceeded timeout (5s): ") + 4096 + len("...")
	for _, f := range strings.Fields(r.out) {
		if n, _ := strconv.Atoi(f); n > most {
			t.Errorf("a probe's output of %d bytes was kept (at most %d)", n, most)
		}
	}
}
