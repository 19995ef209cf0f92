package harness

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/procstat"
)

// TestSweepDeadRoots: the root of a test process that died is released,
// with the daemon it left running; the root of a living test and a
// directory without an owner file are left alone.
func TestSweepDeadRoots(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	// A process that has exited: its PID names no process with its start
	// time any more.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	deadRoot := filepath.Join(tmp, "bt-dead")
	dataRoot := filepath.Join(deadRoot, "data")
	os.MkdirAll(dataRoot, 0o755)
	// The "daemon" the dead test left: a process whose command line
	// carries the data-root, as berthd's does, and which needs a signal
	// to go (read from a pipe nobody writes).
	orphan := exec.Command("sh", "-c", "read x", "berthd", "--data-root", dataRoot)
	pr, pw, _ := os.Pipe()
	defer pw.Close()
	orphan.Stdin = pr
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	waited := make(chan struct{})
	go func() { orphan.Wait(); close(waited) }()
	t.Cleanup(func() { orphan.Process.Kill() })
	os.WriteFile(filepath.Join(deadRoot, "berthd.pid"), []byte(strconv.Itoa(orphan.Process.Pid)), 0o644)
	writeOwnerFile(t, deadRoot, owner{Pid: gone.Process.Pid, StartTime: 1, DataRoot: dataRoot})

	liveRoot := filepath.Join(tmp, "bt-live")
	os.MkdirAll(liveRoot, 0o755)
	writeOwnerFile(t, liveRoot, owner{Pid: os.Getpid(), StartTime: procstat.StartTime(os.Getpid()), DataRoot: filepath.Join(liveRoot, "data")})

	foreign := filepath.Join(tmp, "bt-foreign")
	os.MkdirAll(foreign, 0o755)

	SweepDeadRoots()

	if _, err := os.Stat(deadRoot); !os.IsNotExist(err) {
		t.Errorf("the dead test's root is still there (%v)", err)
	}
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Error("the dead test's daemon is still running")
	}
	for _, dir := range []string{liveRoot, foreign} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s was swept: %v", dir, err)
		}
	}
}

func writeOwnerFile(t *testing.T, root string, o owner) {
	t.Helper()
	b, _ := json.Marshal(o)
	if err := os.WriteFile(filepath.Join(root, ownerFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
