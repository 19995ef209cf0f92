package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ServeRegistry runs Debian's docker-registry on root/config.yml (the
// caller writes it) with its log in root/registry.log, waits until
// ready answers nil, and stops it by PID when the test ends (TERM, KILL
// after 10 s), showing the log's tail when the test failed.
func ServeRegistry(t testing.TB, root string, ready func() error) {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	Require(t, err == nil, "docker-registry (Debian package docker-registry)")
	logPath := filepath.Join(root, "registry.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(root, "config.yml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	logTail := func() string {
		b, _ := os.ReadFile(logPath)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		return strings.Join(lines, "\n")
	}
	t.Cleanup(func() {
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("registry log tail:\n%s", logTail())
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("docker-registry exited:\n%s", logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
