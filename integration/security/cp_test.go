package security

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// docker cp resolves the request's path in the container's root. Where the
// container's /proc shows host processes (--pid host, or a bind of the
// host's /proc), /proc/1/root there is a magic link to the host's root:
// following it would hand the host's files to whoever may docker cp. These
// tests aim at a victim the test made under t.TempDir().

// cpVictimContent marks the host's copy of the victim.
const cpVictimContent = "HOST-SECRET"

// cpExpectNoHostRead copies path out of c and fails when the copy
// succeeds or when what arrived holds the host's content. want is the
// error dockerd gives (it does not see the container's /proc, so the
// path is missing there).
func cpExpectNoHostRead(t *testing.T, dd *harness.Daemon, c, path string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, err := dd.Docker("cp", c+":"+path, out)
	if b, rerr := os.ReadFile(out); rerr == nil && strings.Contains(string(b), cpVictimContent) {
		t.Errorf("docker cp %s read the host's file: %q", path, b)
		return
	}
	if err == nil {
		t.Errorf("docker cp %s succeeded: %s", path, stdout)
		return
	}
	if want := "Could not find the file " + path + " in container " + c; !strings.Contains(stderr, want) {
		t.Errorf("docker cp %s: %q does not contain %q", path, stderr, want)
		return
	}
	resp, body := dd.Do(t, http.MethodHead, "/containers/"+c+"/archive?path="+url.QueryEscape(path), "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD %s: %d %s %s", path, resp.StatusCode, body, resp.Header.Get("X-Docker-Container-Path-Stat"))
	}
}

// cpExpectNothingNew fails when dir holds anything but the victim.
func cpExpectNothingNew(t *testing.T, dir string) {
	t.Helper()
	if extra := cpPlanted(t, dir); len(extra) > 0 {
		t.Fatalf("docker cp created %v on the host", extra)
	}
}

// cpPlanted removes and returns what dir holds besides the victim.
func cpPlanted(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range ents {
		if e.Name() != "victim" {
			os.RemoveAll(filepath.Join(dir, e.Name()))
			extra = append(extra, filepath.Join(dir, e.Name()))
		}
	}
	return extra
}

// cpTar builds a tar stream of the given headers; regular files hold
// their own name.
func cpTar(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		var body []byte
		if h.Typeflag == tar.TypeReg {
			body = []byte(h.Name)
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	return b.Bytes()
}

// cpSlowReader holds back its first byte for a while: the daemon has
// resolved the destination by then and waits for the archive, which is
// the window a container swapping the destination needs.
type cpSlowReader struct {
	r     io.Reader
	delay time.Duration
}

func (s *cpSlowReader) Read(p []byte) (int, error) {
	if s.delay > 0 {
		time.Sleep(s.delay)
		s.delay = 0
	}
	return s.r.Read(p)
}

// cpPut sends a tar to PUT /containers/{c}/archive?path=dir, its first
// byte after delay, and returns the status and body.
func cpPut(t *testing.T, dd *harness.Daemon, c, dir string, body []byte, delay time.Duration) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://engine/containers/"+c+"/archive?path="+url.QueryEscape(dir), &cpSlowReader{bytes.NewReader(body), delay})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := dd.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msg bytes.Buffer
	msg.ReadFrom(resp.Body)
	return resp.StatusCode, msg.String()
}

// cpIntoMagicLink tries every way of copying into the host directory of
// the victim through root, the container's path of the host's root.
func cpIntoMagicLink(t *testing.T, dd *harness.Daemon, c, root, victim string) {
	t.Helper()
	vdir := filepath.Dir(victim)
	src := filepath.Join(t.TempDir(), "planted")
	if err := os.WriteFile(src, []byte("PLANTED"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{root + vdir + "/", root + vdir + "/new", root + vdir} {
		if _, _, err := dd.Docker("cp", src, c+":"+dst); err == nil {
			t.Errorf("docker cp into %s succeeded", dst)
		}
		cpExpectNothingNew(t, vdir)
	}
	// The API without the CLI's checks: the destination itself, and a
	// symlink in the archive that names the magic link.
	st, msg := cpPut(t, dd, c, root+vdir, cpTar(t, &tar.Header{Name: "direct", Typeflag: tar.TypeReg}), 0)
	if st < 300 {
		t.Errorf("PUT into %s: %d", root+vdir, st)
	}
	if want := "Could not find the file " + root + vdir + " in container " + c; !strings.Contains(msg, want) {
		t.Errorf("PUT into %s: %q does not contain %q", root+vdir, msg, want)
	}
	cpExpectNothingNew(t, vdir)
	dd.Docker("exec", c, "mkdir", "-p", "/cpdst")
	st, msg = cpPut(t, dd, c, "/cpdst", cpTar(t,
		&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: root + vdir},
		&tar.Header{Name: "l/through-link", Typeflag: tar.TypeReg}), 0)
	cpExpectNothingNew(t, vdir)
	if st != http.StatusBadRequest {
		t.Errorf("PUT of an archive writing through a magic link: %d %s, want a refusal of the entry", st, msg)
	}
	// Stream through the CLI too (docker cp - reads a tar from stdin).
	cmd := dd.DockerCmd("cp", "-", c+":/cpdst")
	cmd.Stdin = bytes.NewReader(cpTar(t,
		&tar.Header{Name: "m", Typeflag: tar.TypeSymlink, Linkname: root + vdir},
		&tar.Header{Name: "m/through-cli", Typeflag: tar.TypeReg}))
	cmd.Run()
	cpExpectNothingNew(t, vdir)
	if b, _ := os.ReadFile(victim); string(b) != cpVictimContent {
		t.Fatalf("host victim changed: %q", b)
	}
}

// cpHostRoot is the container's path of the host's root where the
// container's /proc is the host's: the root of the test process, which the
// daemon may always read (this machine's PID 1 may be out of its reach,
// and then /proc/1/root is refused for a reason that proves nothing).
func cpHostRoot(proc string) string { return fmt.Sprintf("%s/%d/root", proc, os.Getpid()) }

// TestCpHostPidMagicLink: with --pid host, the container's /proc shows the
// host's processes, and /proc/<pid>/root is the host's root.
func TestCpHostPidMagicLink(t *testing.T) {
	dd := setup(t)
	victim := hostFile(t, cpVictimContent)
	c := run(t, dd, "--pid", "host", "busybox", "sleep", "300")
	root := cpHostRoot("/proc")
	cpExpectNoHostRead(t, dd, c, root+victim)
	cpExpectNoHostRead(t, dd, c, root+filepath.Dir(victim)+"/.")
	cpExpectNoHostRead(t, dd, c, "/proc/self/root"+victim)
	// A symlink the container plants to the magic link is no way round.
	dd.DockerT(t, "exec", c, "ln", "-s", root+filepath.Dir(victim), "/esc")
	cpExpectNoHostRead(t, dd, c, "/esc/victim")
	cpIntoMagicLink(t, dd, c, root, victim)
	// PID 1's root, whether or not the daemon may read it.
	out := filepath.Join(t.TempDir(), "out")
	dd.Docker("cp", c+":/proc/1/root"+victim, out)
	if b, _ := os.ReadFile(out); strings.Contains(string(b), cpVictimContent) {
		t.Fatal("docker cp read the host's file through /proc/1/root")
	}
}

// TestCpHostProcBind: the same through a bind of the host's /proc.
func TestCpHostProcBind(t *testing.T) {
	dd := setup(t)
	victim := hostFile(t, cpVictimContent)
	c := run(t, dd, "-v", "/proc:/hostproc:ro", "busybox", "sleep", "300")
	root := cpHostRoot("/hostproc")
	cpExpectNoHostRead(t, dd, c, root+victim)
	cpExpectNoHostRead(t, dd, c, "/hostproc/self/root"+victim)
	cpIntoMagicLink(t, dd, c, root, victim)
	// The stopped container's view mounts the bind too.
	dd.DockerT(t, "stop", "-t", "0", c)
	cpExpectNoHostRead(t, dd, c, root+victim)
	cpExpectNoHostRead(t, dd, c, "/hostproc/self/root"+victim)
	cpIntoMagicLink(t, dd, c, root, victim)
}

// TestCpMagicLinkSwapRace is CVE-2018-15664 with a magic link: the
// container swaps the directory the host copies into and out of with a
// symlink to the same path through /proc/<pid>/root, the host's. A daemon that
// checks a path and then uses it again by name ends up on the host.
func TestCpMagicLinkSwapRace(t *testing.T) {
	dd := setup(t)
	victim := hostFile(t, cpVictimContent)
	vdir := filepath.Dir(victim)
	// Every rename is atomic: the path is the container's directory, then
	// missing, then the link, then missing again.
	script := fmt.Sprintf(`mkdir -p %[1]s; rmdir %[1]s; mkdir /tmp/cpd; echo CTR > /tmp/cpd/victim; `+
		`ln -s %[2]s%[1]s /tmp/cpl; `+
		`while :; do mv /tmp/cpd %[1]s; mv %[1]s /tmp/cpd; mv /tmp/cpl %[1]s; mv %[1]s /tmp/cpl; done`, vdir, cpHostRoot("/proc"))
	c := run(t, dd, "--pid", "host", "busybox", "sh", "-c", script)
	w := t.TempDir()
	evil := filepath.Join(w, "evil")
	if err := os.WriteFile(evil, []byte("EVIL"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(40 * time.Second)
	var reads, writes int
	for i := 0; i < 150 && time.Now().Before(deadline); i++ {
		dd.Docker("cp", evil, c+":"+vdir+"/")
		cpPut(t, dd, c, vdir, cpTar(t, &tar.Header{Name: "evil-api", Typeflag: tar.TypeReg}), 30*time.Millisecond)
		writes += len(cpPlanted(t, vdir))
		out := filepath.Join(w, fmt.Sprintf("got%d", i))
		dd.Docker("cp", c+":"+victim, out)
		if b, err := os.ReadFile(out); err == nil && strings.Contains(string(b), cpVictimContent) {
			reads++
		}
	}
	if reads > 0 || writes > 0 {
		t.Fatalf("docker cp read the host's file %d times and wrote %d files on the host", reads, writes)
	}
	if b, _ := os.ReadFile(victim); string(b) != cpVictimContent {
		t.Fatalf("host victim changed: %q", b)
	}
}

// TestCpFifoDoesNotBlock: a FIFO is archived as an entry, never opened,
// and a file that becomes a FIFO between the stat and the read does not
// hang the copy (and with it the container's lock and docker ps).
func TestCpFifoDoesNotBlock(t *testing.T) {
	dd := setup(t)
	c := run(t, dd, "busybox", "sh", "-c",
		`mkfifo /tmp/fifo; mkdir /tmp/d; mkfifo /tmp/d/p; echo data > /tmp/r; `+
			`while :; do cp /tmp/r /tmp/d/x.r; mv /tmp/d/x.r /tmp/d/x; mkfifo /tmp/d/x.f; mv /tmp/d/x.f /tmp/d/x; done`)
	for i := 0; ; i++ {
		if _, _, err := dd.Docker("exec", c, "test", "-p", "/tmp/d/p"); err == nil {
			break
		} else if i == 100 {
			t.Fatal("the container did not make its FIFOs")
		}
		time.Sleep(50 * time.Millisecond)
	}
	w := t.TempDir()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 40; i++ {
			if _, stderr, err := dd.Docker("cp", c+":/tmp/d", filepath.Join(w, fmt.Sprint(i))); err != nil {
				done <- fmt.Errorf("docker cp /tmp/d: %v: %s", err, stderr)
				return
			}
		}
		_, stderr, err := dd.Docker("cp", c+":/tmp/fifo", filepath.Join(w, "fifo"))
		if err != nil {
			err = fmt.Errorf("docker cp /tmp/fifo: %v: %s", err, stderr)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		// Unblock the daemon so the cleanup can remove the container.
		dd.Docker("exec", c, "sh", "-c", "for f in /tmp/fifo /tmp/d/x /tmp/d/p; do echo > $f & done")
		t.Fatal("docker cp of a FIFO did not return")
	}
	fi, err := os.Lstat(filepath.Join(w, "fifo"))
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("FIFO copied as %v %v", fi, err)
	}
}
