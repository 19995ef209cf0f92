package image

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// syscallTrace is strace attached to a running daemon, recording the
// calls that make metadata durable or replace it (fsync, rename).
type syscallTrace struct {
	cmd *exec.Cmd
	out string
}

func traceDaemon(t *testing.T, dd *harness.Daemon) *syscallTrace {
	t.Helper()
	return traceDaemonWith(t, dd, "-e", "trace=fsync,fdatasync,syncfs,rename,renameat,renameat2")
}

// traceDaemonWith attaches strace with the given filter and tampering
// options to every thread of the daemon.
func traceDaemonWith(t *testing.T, dd *harness.Daemon, opts ...string) *syscallTrace {
	t.Helper()
	bin, err := exec.LookPath("strace")
	harness.Require(t, err == nil, "strace (Debian package strace)")
	if err != nil {
		return nil
	}
	pid := dd.Pid()
	tr := &syscallTrace{out: filepath.Join(t.TempDir(), "strace.out")}
	args := append([]string{"-f", "-qq", "-y", "-s", "512", "-o", tr.out}, opts...)
	tr.cmd = exec.Command(bin, append(args, "-p", strconv.Itoa(pid))...)
	if err := tr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Attached once every thread of the daemon has a tracer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
		all := len(tasks) > 0
		for _, task := range tasks {
			b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", task.Name(), "status"))
			if !strings.Contains(string(b), "TracerPid:\t"+strconv.Itoa(tr.cmd.Process.Pid)+"\n") {
				all = false
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			tr.cmd.Process.Kill()
			tr.cmd.Wait()
			t.Fatal("strace did not attach in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() {
		if tr.cmd.ProcessState == nil {
			tr.cmd.Process.Kill()
			tr.cmd.Wait()
		}
	})
	return tr
}

var (
	fsyncLine  = regexp.MustCompile(`(?:fsync|fdatasync)\(\d+<([^>]*)>\)`)
	renameLine = regexp.MustCompile(`rename\w*\(.*"([^"]+)"(?:, \w+)?\) = 0`)
)

// stop detaches strace and returns the paths fsync'd and the paths
// renamed onto, in order.
func (tr *syscallTrace) stop(t *testing.T) (fsyncs, renames []string) {
	t.Helper()
	tr.cmd.Process.Signal(syscall.SIGINT)
	tr.cmd.Wait()
	b, err := os.ReadFile(tr.out)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if m := fsyncLine.FindStringSubmatch(line); m != nil {
			fsyncs = append(fsyncs, m[1])
		} else if m := renameLine.FindStringSubmatch(line); m != nil {
			renames = append(renames, m[1])
		}
	}
	return fsyncs, renames
}

func countBase(paths []string, match func(base string) bool) int {
	n := 0
	for _, p := range paths {
		if match(filepath.Base(p)) {
			n++
		}
	}
	return n
}

func lastTagTime(t *testing.T, dd *harness.Daemon, ref string) string {
	t.Helper()
	var v []struct{ Metadata struct{ LastTagTime string } }
	if err := json.Unmarshal([]byte(dd.DockerT(t, "image", "inspect", ref)), &v); err != nil || len(v) != 1 {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	return v[0].Metadata.LastTagTime
}

// docker tag makes the name durable (references.json is fsync'd when it
// changes) but not the tag time: it neither rewrites nor fsyncs the image
// record, and a tag that changes nothing fsyncs nothing. docker load of a
// new image with two names writes its record and references.json once
// each. The tag time still reads back, also after a restart.
func TestTagAndLoadWriteMetadataOnce(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{})
	p, id := dd.WriteTestImage(t, "it-sync-base:1", false)
	dd.DockerT(t, "load", "-i", p)
	hex := strings.TrimPrefix(id, "sha256:")
	record := func(base string) bool { return base == hex+".json" }
	recordTmp := func(base string) bool { return strings.HasPrefix(base, "."+hex+".json.tmp") }
	refs := func(base string) bool { return base == "references.json" }
	refsTmp := func(base string) bool { return strings.HasPrefix(base, ".references.json.tmp") }

	tr := traceDaemon(t, dd)
	dd.DockerT(t, "tag", "it-sync-base:1", "it-sync:new")
	fsyncs, renames := tr.stop(t)
	t.Logf("docker tag (new name): fsync %v; rename onto %v", fsyncs, renames)
	if n := countBase(renames, record); n != 0 {
		t.Errorf("docker tag rewrote the image record %d times", n)
	}
	if n := countBase(fsyncs, recordTmp); n != 0 {
		t.Errorf("docker tag fsync'd the image record %d times", n)
	}
	if n := countBase(renames, refs); n != 1 {
		t.Errorf("docker tag wrote references.json %d times, want 1", n)
	}
	if n := countBase(fsyncs, refsTmp); n != 1 {
		t.Errorf("docker tag fsync'd references.json %d times, want 1 (the name must survive a power loss)", n)
	}
	first := lastTagTime(t, dd, "it-sync:new")
	if first == "" || strings.HasPrefix(first, "0001-") {
		t.Fatalf("no tag time after docker tag: %q", first)
	}

	time.Sleep(10 * time.Millisecond)
	tr = traceDaemon(t, dd)
	dd.DockerT(t, "tag", "it-sync-base:1", "it-sync:new")
	fsyncs, renames = tr.stop(t)
	t.Logf("docker tag (same name again): fsync %v; rename onto %v", fsyncs, renames)
	if len(fsyncs) != 0 {
		t.Errorf("a tag that moves no name fsync'd %v", fsyncs)
	}
	if n := countBase(renames, record) + countBase(renames, refs); n != 0 {
		t.Errorf("a tag that moves no name rewrote the record or references.json %d times", n)
	}
	second := lastTagTime(t, dd, "it-sync:new")
	if second <= first {
		t.Errorf("tag time did not move: %s then %s", first, second)
	}
	if err := dd.Restart(false); err != nil {
		t.Fatal(err)
	}
	if got := lastTagTime(t, dd, "it-sync:new"); got != second {
		t.Errorf("tag time after a restart: %s, want %s", got, second)
	}

	saved := filepath.Join(t.TempDir(), "two-names.tar")
	dd.DockerT(t, "save", "-o", saved, "it-sync-base:1", "it-sync:new")
	dd.DockerT(t, "rmi", "it-sync-base:1", "it-sync:new")
	tr = traceDaemon(t, dd)
	out := dd.DockerT(t, "load", "-i", saved)
	fsyncs, renames = tr.stop(t)
	t.Logf("docker load (two names): fsync %v; rename onto %v", fsyncs, renames)
	if !strings.Contains(out, "Loaded image: it-sync-base:1") || !strings.Contains(out, "Loaded image: it-sync:new") {
		t.Fatalf("load: %s", out)
	}
	if n := countBase(renames, record); n != 1 {
		t.Errorf("docker load wrote the image record %d times, want 1", n)
	}
	if n := countBase(renames, refs); n != 1 {
		t.Errorf("docker load wrote references.json %d times, want 1", n)
	}
	if n := countBase(fsyncs, recordTmp); n != 1 {
		t.Errorf("docker load fsync'd the image record %d times, want 1", n)
	}
	if n := countBase(fsyncs, refsTmp); n != 1 {
		t.Errorf("docker load fsync'd references.json %d times, want 1", n)
	}
	if err := dd.Restart(true); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"it-sync-base:1", "it-sync:new"} {
		if got := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.Id}}", ref)); got != id {
			t.Errorf("after a kill, %s is %q, want %s", ref, got, id)
		}
	}
}
