package signal

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A shell as the init of a new PID namespace: signals it has no trap for
// are dropped, a trapped one is not, SIGKILL never is; outside a PID
// namespace of its own nothing is.
func TestDroppedByInit(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command(sh, "-c", "trap 'exit 3' USR1; echo ready; while :; do sleep 1; done")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Skipf("no PID namespace: %v", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	buf := make([]byte, 6)
	out.Read(buf)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if d, err := DroppedByInit(cmd.Process.Pid, unix.SIGUSR1); err == nil && !d {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("trapped USR1 reported as dropped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d, err := DroppedByInit(cmd.Process.Pid, unix.SIGUSR2); err != nil || !d {
		t.Fatalf("untrapped USR2: dropped=%v err=%v", d, err)
	}
	if d, _ := DroppedByInit(cmd.Process.Pid, unix.SIGKILL); d {
		t.Fatal("SIGKILL reported as dropped")
	}
	if d, err := DroppedByInit(os.Getpid(), unix.SIGUSR2); err != nil || d {
		t.Fatalf("a process outside a PID namespace of its own: dropped=%v err=%v", d, err)
	}
}
