package procstat

import (
	"os"
	"os/exec"
	"testing"
)

// TestStartTime: a living process has one, which stays the same; an exited
// (reaped) one has none, and neither has a zombie.
func TestStartTime(t *testing.T) {
	self := StartTime(os.Getpid())
	if self == 0 || StartTime(os.Getpid()) != self {
		t.Fatalf("start time of this process: %d, then %d", self, StartTime(os.Getpid()))
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	if got := StartTime(gone.Process.Pid); got != 0 {
		t.Errorf("an exited process has start time %d", got)
	}
	zombie := exec.Command("true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	defer zombie.Wait()
	// Not reaped yet: once it has exited it is a zombie.
	for i := 0; i < 500 && StartTime(zombie.Process.Pid) != 0; i++ {
		exec.Command("sleep", "0.01").Run()
	}
	if got := StartTime(zombie.Process.Pid); got != 0 {
		t.Errorf("a zombie has start time %d", got)
	}
}
