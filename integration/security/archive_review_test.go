package security

import (
	"archive/tar"
	"bytes"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// A container decides how long a docker cp or export of its files lasts
// (a sparse file of a terabyte costs it nothing), and the client how
// slowly it reads: neither may make docker ps, inspect or info wait.

// arvSlow is a docker CLI call left hanging on purpose: its stdout is a
// pipe nobody reads, its stdin one nobody closes.
type arvSlow struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// arvStartSlow starts the docker CLI with args and stops it (its own
// process, by PID) when the test ends. stdin, when set, is written and
// the pipe left open.
func arvStartSlow(t *testing.T, dd *harness.Daemon, stdin []byte, args ...string) *arvSlow {
	t.Helper()
	s := &arvSlow{cmd: dd.DockerCmd(args...)}
	if _, err := s.cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	if stdin != nil {
		go s.stdin.Write(stdin)
	}
	// Long enough for the CLI to reach the daemon and the stream to fill
	// the pipes.
	time.Sleep(1500 * time.Millisecond)
	return s
}

func (s *arvSlow) stop() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// arvAnswers fails when a docker command does not come back within 2s.
func arvAnswers(t *testing.T, dd *harness.Daemon, args ...string) {
	t.Helper()
	r := frzTimed(dd, 2*time.Second, "", args...)
	switch {
	case r.timedOut:
		t.Errorf("docker %s did not answer within 2s while a copy was in progress", strings.Join(args, " "))
	case r.err != nil:
		t.Errorf("docker %s: %v\n%s", strings.Join(args, " "), r.err, r.out)
	}
}

func arvCheckDaemon(t *testing.T, dd *harness.Daemon, id string) {
	t.Helper()
	arvAnswers(t, dd, "ps")
	arvAnswers(t, dd, "inspect", id)
	arvAnswers(t, dd, "info")
}

const arvBigFile = "truncate -s 1T /big || dd if=/dev/zero of=/big bs=1 count=0 seek=1099511627776"

// arvStopped creates a container that made a sparse terabyte file and
// exited.
func arvStopped(t *testing.T, dd *harness.Daemon) string {
	t.Helper()
	id := strings.TrimSpace(dd.DockerT(t, "create", "--pull=never", "--network", "none", harness.BusyboxImage, "sh", "-c", arvBigFile))
	t.Cleanup(func() { dd.Docker("rm", "-f", "-v", id) })
	dd.DockerT(t, "start", "-a", id)
	return id
}

func TestArchiveReviewCpOutRunningDoesNotStallDaemon(t *testing.T) {
	dd := setup(t)
	id := run(t, dd, harness.BusyboxImage, "sh", "-c", arvBigFile+"; exec sleep 3600")
	frzTimed(dd, 10*time.Second, "", "exec", id, "sh", "-c", "while [ ! -e /big ]; do sleep 0.1; done")
	s := arvStartSlow(t, dd, nil, "cp", id+":/big", "-")
	arvCheckDaemon(t, dd, id)
	s.stop()
}

func TestArchiveReviewCpOutStoppedDoesNotStallDaemon(t *testing.T) {
	dd := setup(t)
	id := arvStopped(t, dd)
	s := arvStartSlow(t, dd, nil, "cp", id+":/big", "-")
	arvCheckDaemon(t, dd, id)
	// The view mounted the container's writable layer: a start waits for
	// it to close (as dockerd's waits on the container's lock), without
	// holding anyone else up, and then goes ahead.
	start := make(chan frzResult, 1)
	go func() { start <- frzTimed(dd, 30*time.Second, "", "start", "-a", id) }()
	time.Sleep(time.Second)
	select {
	case r := <-start:
		t.Errorf("start while a view of the stopped container was open: %v %v\n%s", r.timedOut, r.err, r.out)
	default:
	}
	arvCheckDaemon(t, dd, id)
	s.stop()
	if r := <-start; r.timedOut || r.err != nil {
		t.Fatalf("start after the copy: %v %v\n%s", r.timedOut, r.err, r.out)
	}
	dd.DockerT(t, "rm", id)
}

func TestArchiveReviewExportStoppedDoesNotStallDaemon(t *testing.T) {
	dd := setup(t)
	id := arvStopped(t, dd)
	s := arvStartSlow(t, dd, nil, "export", id)
	arvCheckDaemon(t, dd, id)
	s.stop()
}

// arvTarHead is the start of an archive whose one file is far longer
// than what follows: the extraction waits for the rest.
func arvTarHead(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "slow", Mode: 0o644, Size: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	b.Write(make([]byte, 1<<20))
	return b.Bytes()
}

func TestArchiveReviewCpInDoesNotStallDaemon(t *testing.T) {
	dd := setup(t)
	running := run(t, dd, harness.BusyboxImage, "sleep", "3600")
	stopped := arvStopped(t, dd)
	for _, id := range []string{running, stopped} {
		s := arvStartSlow(t, dd, arvTarHead(t), "cp", "-", id+":/tmp")
		arvCheckDaemon(t, dd, id)
		s.stop()
	}
}

// arvSpecialTar holds what docker cp must create in a container as
// dockerd does: a FIFO, a character device and a symlink, each carrying
// a user.* xattr (which Linux refuses on all three, and dockerd then
// ignores).
func arvSpecialTar(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	x := map[string]string{"SCHILY.xattr.user.arv": "1"}
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeFifo, Name: "arv/fifo", Mode: 0o644, PAXRecords: x},
		{Typeflag: tar.TypeChar, Name: "arv/null", Mode: 0o666, Devmajor: 1, Devminor: 3, PAXRecords: x},
		{Typeflag: tar.TypeSymlink, Name: "arv/link", Linkname: "fifo", PAXRecords: x},
	} {
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	return b.Bytes()
}

const arvStatCmd = "stat -c '%n %F %t:%T' /tmp/arv/fifo /tmp/arv/null /tmp/arv/link"

func arvCheckSpecial(t *testing.T, what, out string) {
	t.Helper()
	for _, want := range []string{"/tmp/arv/fifo fifo", "/tmp/arv/null character special file 1:3", "/tmp/arv/link symbolic link"} {
		if !strings.Contains(out, want) {
			t.Errorf("%s: %q lacks %q", what, out, want)
		}
	}
}

// docker cp into a container resolves FIFOs, devices and symlinks
// through the daemon's /proc, not the container's (running) or the
// image's /proc directory (stopped).
func TestArchiveReviewCpInSpecialFiles(t *testing.T) {
	dd := setup(t)
	running := run(t, dd, harness.BusyboxImage, "sleep", "3600")
	r := frzTimed(dd, 20*time.Second, string(arvSpecialTar(t)), "cp", "-", running+":/tmp")
	if r.timedOut || r.err != nil {
		t.Errorf("docker cp into a running container: %v %v\n%s", r.timedOut, r.err, r.out)
	} else {
		arvCheckSpecial(t, "running", dd.DockerT(t, "exec", running, "sh", "-c", arvStatCmd))
	}

	stopped := strings.TrimSpace(dd.DockerT(t, "create", "--pull=never", "--network", "none", harness.BusyboxImage, "sh", "-c", arvStatCmd))
	t.Cleanup(func() { dd.Docker("rm", "-f", "-v", stopped) })
	r = frzTimed(dd, 20*time.Second, string(arvSpecialTar(t)), "cp", "-", stopped+":/tmp")
	if r.timedOut || r.err != nil {
		t.Errorf("docker cp into a stopped container: %v %v\n%s", r.timedOut, r.err, r.out)
	} else {
		arvCheckSpecial(t, "stopped", dd.DockerT(t, "start", "-a", stopped))
	}
}
