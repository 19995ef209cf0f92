package pidfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestMain lets the test re-run its own binary as a stand-in for a second
// live daemon.
func TestMain(m *testing.M) {
	if os.Getenv("PIDFILE_TEST_SLEEP") == "1" {
		time.Sleep(10 * time.Second)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestWriteReplacesStaleAndRefusesLive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "berthd.pid")

	// A stale pidfile naming a process that has exited is replaced.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	if err := Write(p); err != nil {
		t.Fatalf("stale pidfile not replaced: %v", err)
	}
	if pid, _ := Read(p); pid != os.Getpid() {
		t.Fatalf("pidfile has %d, want %d", pid, os.Getpid())
	}

	// A pidfile naming a live process of another executable is stale too:
	// the PID was recycled.
	sleeper := exec.Command("sleep", "10")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleeper.Process.Kill()
	os.WriteFile(p, []byte(strconv.Itoa(sleeper.Process.Pid)), 0o644)
	if err := Write(p); err != nil {
		t.Fatalf("pidfile of an unrelated process refused: %v", err)
	}

	// A live process running our own executable blocks the start.
	self := exec.Command(os.Args[0], "-test.run=^$")
	self.Env = append(os.Environ(), "PIDFILE_TEST_SLEEP=1")
	if err := self.Start(); err != nil {
		t.Fatal(err)
	}
	defer self.Process.Kill()
	os.WriteFile(p, []byte(strconv.Itoa(self.Process.Pid)), 0o644)
	if err := Write(p); err == nil {
		t.Fatal("Write succeeded over a live daemon's pidfile")
	}

	if err := Remove(p); err != nil {
		t.Fatal(err)
	}
}
