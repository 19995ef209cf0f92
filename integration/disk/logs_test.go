package disk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/integration/internal/loopfs"
)

// TestLogsNoSpace: a container that logs until the data-root is full
// keeps running (its lines are dropped, as dockerd drops them), `docker
// logs` still reads what was written, nothing else breaks, and lines are
// written again once space is freed. For json-file and local.
func TestLogsNoSpace(t *testing.T) {
	for _, driver := range []string{"json-file", "local"} {
		t.Run(driver, func(t *testing.T) { testLogsNoSpace(t, driver) })
	}
}

// logger prints "seq <n> xxx…" (about 4 KiB) every 10 ms: 400 KiB/s, which
// fills a few MiB in seconds and the rest of the test's file system in
// minutes.
const logger = `s=$(head -c 4000 /dev/zero | tr '\0' x); i=0; while true; do i=$((i+1)); echo "seq $i $s"; usleep 10000; done`

func testLogsNoSpace(t *testing.T, driver string) {
	d, fs := newDaemon(t, loopfs.Options{})
	opts := []string{"run", "-d", "--name", "logger", "--log-driver", driver}
	if driver == "local" {
		// Keep the local driver's rotation (and its compression, which
		// needs room of its own) out of the way: one big file.
		opts = append(opts, "--log-opt", "max-size=1g")
	}
	d.DockerT(t, append(opts, harness.BusyboxImage, "sh", "-c", logger)...)
	fs.Fill(2 << 20)
	harness.Eventually(t, 30*time.Second, "the data-root to fill", func() bool { return fs.Free() < 64<<10 })
	// Some seconds of logging into a full disk.
	time.Sleep(2 * time.Second)
	if st := d.DockerT(t, "inspect", "-f", "{{.State.Running}}", "logger"); st != "true\n" {
		t.Fatalf("logger running on a full disk: %s", st)
	}
	full := lastSeq(t, d)
	if full == 0 {
		t.Fatal("docker logs shows no line on a full disk")
	}
	d.DockerT(t, "ps")
	d.CheckMetadata(t)

	fs.Unfill()
	harness.Eventually(t, 30*time.Second, "lines logged after the space came back", func() bool { return lastSeq(t, d) > full+50 })
	// Both drivers keep json-file entries on disk (local in its own
	// directory).
	id := strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.Id}}", "logger"))
	files, _ := filepath.Glob(filepath.Join(d.DataRoot, "containers", id, "*-json.log"))
	local, _ := filepath.Glob(filepath.Join(d.DataRoot, "containers", id, "local-logs", "container.log*"))
	if files = append(files, local...); len(files) != 1 {
		t.Fatalf("log files %v, want one", files)
	}
	wantWholeEntries(t, files[0])
	d.DockerT(t, "rm", "-f", "logger")
}

// wantWholeEntries fails t when a line of the json-file log at path is
// not one whole JSON entry: a write cut short by ENOSPC must not stay in
// the file, where the next entry would be glued to it.
func wantWholeEntries(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	for i, l := range lines {
		if !json.Valid(l) {
			t.Fatalf("log line %d of %d is torn (%d bytes): %.60q…%.60q", i+1, len(lines), len(l), l, l[max(0, len(l)-60):])
		}
	}
	t.Logf("%d whole entries in the log file", len(lines))
}

// TestLogRotationNoInodes: a json-file log that must rotate while the
// data-root has no inode left for the new file drops lines meanwhile and
// logs again once inodes are freed, also when the shim was reborn (a
// fresh image of itself) in between: it used to stop logging for good.
func TestLogRotationNoInodes(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{Inodes: 4096})
	d.DockerT(t, "run", "-d", "--name", "logger", "--log-opt", "max-size=100k", "--log-opt", "max-file=2",
		harness.BusyboxImage, "sh", "-c", logger)
	harness.Eventually(t, 10*time.Second, "the first lines", func() bool { return lastSeq(t, d) > 0 })
	fs.FillInodes(0)
	// Several rotations' worth of output (one every quarter second).
	time.Sleep(2 * time.Second)
	before := lastSeq(t, d)
	fs.Unfill()
	harness.Eventually(t, 30*time.Second, "lines logged after inodes came back", func() bool { return lastSeq(t, d) > before+50 })
	d.DockerT(t, "rm", "-f", "logger")
}

// lastSeq is the sequence number on the last line `docker logs` shows; it
// fails t when docker logs fails, a line is garbled (a torn entry), or the
// numbers go backwards.
func lastSeq(t *testing.T, d *harness.Daemon) int {
	t.Helper()
	out, errOut, err := d.Docker("logs", "logger")
	if err != nil || errOut != "" {
		t.Fatalf("docker logs: %v %s", err, errOut)
	}
	last := 0
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.Atoi(f[min(1, len(f)-1)])
		if len(f) != 3 || f[0] != "seq" || err != nil || len(f[2]) != 4000 || n <= last {
			t.Fatalf("garbled log line after seq %d: %.80q (%d bytes)", last, line, len(line))
		}
		last = n
	}
	return last
}
