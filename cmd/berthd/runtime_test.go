package main

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/runtime/bundletest"
)

// berthd runs the command line in-process and returns what it printed.
// The init stages it starts are re-execs of this test binary, which
// dispatches them from initstage.go's init. A created container inherits
// stdout, so create must not run with the capture pipe in place (it would
// never see EOF): use berthdNoCapture for it.
func berthd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	cmd := newCommand()
	cmd.SetArgs(args)
	err = cmd.Execute()
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	return string(out), err
}

func berthdNoCapture(t *testing.T, args ...string) error {
	t.Helper()
	cmd := newCommand()
	cmd.SetArgs(args)
	return cmd.Execute()
}

func ociState(t *testing.T, root, id string) specs.State {
	t.Helper()
	out, err := berthd(t, "runtime", "--root", root, "state", id)
	if err != nil {
		t.Fatalf("state: %v", err)
	}
	var st specs.State
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("state output %q: %v", out, err)
	}
	return st
}

// The runc-shaped lifecycle: create, state, start, kill, state, delete.
func TestRuntimeCommandLifecycle(t *testing.T) {
	b := bundletest.New(t, "sleep", "60")
	b.Write(t)
	root := t.TempDir()
	id := "cli-" + strings.ReplaceAll(t.Name(), "/", "-")
	rt := []string{"runtime", "--root", root}
	if err := berthdNoCapture(t, append(rt, "create", "--bundle", b.Dir, id)...); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { _, _ = berthd(t, append(rt, "delete", "--force", id)...) })
	st := ociState(t, root, id)
	if st.Status != specs.StateCreated || st.Pid == 0 || st.Bundle != b.Dir || st.ID != id {
		t.Fatalf("after create: %+v", st)
	}
	if _, err := berthd(t, append(rt, "start", id)...); err != nil {
		t.Fatalf("start: %v", err)
	}
	if st := ociState(t, root, id); st.Status != specs.StateRunning {
		t.Fatalf("after start: %+v", st)
	}
	if _, err := berthd(t, append(rt, "delete", id)...); err == nil {
		t.Fatal("delete of a running container succeeded")
	}
	if _, err := berthd(t, append(rt, "kill", id, "KILL")...); err != nil {
		t.Fatalf("kill: %v", err)
	}
	// The init is this process's child here (runc's would be reparented):
	// reap it so that it stops being a zombie.
	p, _ := os.FindProcess(st.Pid)
	done := make(chan struct{})
	go func() { _, _ = p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("container did not die")
	}
	if st := ociState(t, root, id); st.Status != specs.StateStopped {
		t.Fatalf("after kill: %+v", st)
	}
	if _, err := berthd(t, append(rt, "delete", id)...); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := berthd(t, append(rt, "state", id)...); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("state after delete: %v", err)
	}
}

// --console-socket as runc has it: the runtime connects to the socket and
// sends the pty master; the container's stdio is the slave.
func TestRuntimeCommandConsoleSocket(t *testing.T) {
	b := bundletest.New(t, "sh", "-c", "tty; stty size")
	b.Spec.Process.Terminal = true
	b.Spec.Process.ConsoleSize = &specs.Box{Height: 12, Width: 34}
	b.Write(t)
	root := t.TempDir()
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	masters := make(chan *os.File, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			masters <- nil
			return
		}
		defer c.Close()
		f, _ := c.(*net.UnixConn).File()
		defer f.Close()
		m, err := runtime.RecvConsole(f)
		if err != nil {
			t.Error(err)
		}
		masters <- m
	}()
	id := "cli-console"
	rt := []string{"runtime", "--root", root}
	if err := berthdNoCapture(t, append(rt, "create", "--bundle", b.Dir, "--console-socket", sock, id)...); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { _, _ = berthd(t, append(rt, "delete", "--force", id)...) })
	master := <-masters
	if master == nil {
		t.Fatal("no pty master received")
	}
	defer master.Close()
	st := ociState(t, root, id)
	if _, err := berthd(t, append(rt, "start", id)...); err != nil {
		t.Fatalf("start: %v", err)
	}
	out, _ := io.ReadAll(master) // ends with EIO when the slave closes
	p, _ := os.FindProcess(st.Pid)
	_, _ = p.Wait()
	if !strings.Contains(string(out), "/dev/pts/0") || !strings.Contains(string(out), "12 34") {
		t.Fatalf("terminal output %q", out)
	}
}
