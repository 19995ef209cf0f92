package procns

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A child started in a new PID namespace's is that namespace's: it has
// a PID there beside its own.
func TestStartInPIDNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	holder := exec.Command("unshare", "--pid", "--fork", "sleep", "30")
	holder.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Kill(-holder.Process.Pid, unix.SIGKILL); holder.Wait() })
	var inner int
	for inner == 0 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", holder.Process.Pid, holder.Process.Pid))
		if f := strings.Fields(string(b)); len(f) > 0 {
			inner, _ = strconv.Atoi(f[0])
		}
	}
	out, err := func() ([]byte, error) {
		cmd := exec.Command("grep", "^NSpid:", "/proc/self/status")
		var b strings.Builder
		cmd.Stdout = &b
		if err := StartInPIDNamespace(cmd, inner); err != nil {
			return nil, err
		}
		err := cmd.Wait()
		return []byte(b.String()), err
	}()
	if err != nil {
		t.Fatal(err)
	}
	// Two PIDs: the host's and the namespace's.
	if _, nspid, _ := strings.Cut(string(out), "NSpid:"); len(strings.Fields(nspid)) != 2 {
		t.Fatalf("%s", out)
	}
}

// nsenter would run the command in the namespace's root directory: the
// wrapped one keeps the caller's, and a relative path to it works.
func TestWithMountNamespaceKeepsDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/here", []byte("#!/bin/sh\npwd\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./here")
	cmd.Dir = dir
	out, err := WithMountNamespace(cmd, os.Getpid()).Output()
	if err != nil || strings.TrimSpace(string(out)) != dir {
		t.Fatalf("%q %v, want %s", out, err, dir)
	}
}
