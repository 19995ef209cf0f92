package container

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestRunInteractive drives `docker run -it` through a pty: type a
// command into sh, read its output, exit with a code.
func TestRunInteractive(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "it")
	p := startPty(t, d.DockerCmd(runArgs(t, []string{"run", "-it", "--name", name, "busybox", "sh"})...))
	waitOutput(t, p.out, "# ", 10*time.Second)
	p.write(t, "echo hello-$((6*7))\r")
	waitOutput(t, p.out, "hello-42", 5*time.Second)
	// The container sees a terminal of the pty's size.
	p.write(t, "stty size; tty\r")
	waitOutput(t, p.out, "24 80", 5*time.Second)
	waitOutput(t, p.out, "/dev/pts/0", 5*time.Second)
	p.write(t, "exit 7\r")
	if code := p.wait(t, 10*time.Second); code != 7 {
		t.Fatalf("docker run -it exit %d, want 7; output %q", code, p.out.String())
	}
	if got := format(t, d, name, "{{.State.ExitCode}} {{.Config.Tty}} {{.Config.OpenStdin}}"); got != "7 true true" {
		t.Fatalf("state: %s", got)
	}
}

// TestAttachDetachKeys attaches to a shell, runs a command, then detaches
// with ctrl-p ctrl-q (and with --detach-keys); the container runs on.
func TestAttachDetachKeys(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "att")
	id := runD(t, d, "-it", "--name", name, "busybox", "sh")
	since := time.Now()
	p := startPty(t, d.DockerCmd("attach", name))
	time.Sleep(300 * time.Millisecond)
	p.write(t, "echo attached-$((1+1))\r")
	waitOutput(t, p.out, "attached-2", 5*time.Second)
	// The CLI ends with status 1 on a detach (as against dockerd).
	p.write(t, "\x10\x11")
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Fatalf("detach: exit %d, output %q", code, p.out.String())
	}
	waitOutput(t, p.out, "read escape sequence", time.Second)
	if got := format(t, d, id, "{{.State.Running}}"); got != "true" {
		t.Fatal("container stopped on detach")
	}
	// Custom keys, and the shell still has its state.
	p2 := startPty(t, d.DockerCmd("attach", "--detach-keys", "ctrl-a,x", name))
	time.Sleep(300 * time.Millisecond)
	p2.write(t, "echo again\r")
	waitOutput(t, p2.out, "again", 5*time.Second)
	// ctrl-p ctrl-q is not a detach now.
	p2.write(t, "\x10\x11")
	time.Sleep(300 * time.Millisecond)
	select {
	case <-p2.done:
		t.Fatal("ctrl-p ctrl-q detached with --detach-keys ctrl-a,x")
	default:
	}
	// ctrl-p recalled a history line in sh: clear it.
	p2.write(t, "\x15")
	p2.write(t, "\x01x")
	if code := p2.wait(t, 10*time.Second); code != 1 {
		t.Fatalf("custom detach: exit %d %q", code, p2.out.String())
	}
	if got := format(t, d, id, "{{.State.Running}}"); got != "true" {
		t.Fatal("container stopped on custom detach")
	}
	// Attach and exit the shell: attach returns its exit code.
	p3 := startPty(t, d.DockerCmd("attach", name))
	time.Sleep(300 * time.Millisecond)
	p3.write(t, "exit 9\r")
	if code := p3.wait(t, 10*time.Second); code != 9 {
		t.Fatalf("attach after exit 9: %d %q", code, p3.out.String())
	}
	evs := actions(eventsBetween(t, d, id, since))
	if !contains(evs, "attach") || !contains(evs, "resize") || !contains(evs, "die") {
		t.Fatalf("events %v lack attach/resize/die", evs)
	}
}

// TestAttachNonTTY: attaching to a container without a tty forwards stdin
// (the CLI attaches it when the container has OpenStdin) and keeps stdout
// and stderr apart.
func TestAttachNonTTY(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "ant")
	runD(t, d, "-i", "--name", name, "busybox", "sh", "-c", "while read l; do echo out:$l; echo err:$l >&2; done")
	cmd := d.DockerCmd("attach", name)
	stdin, _ := cmd.StdinPipe()
	o, e := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = o, e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(300 * time.Millisecond)
	stdin.Write([]byte("abc\n"))
	waitOutput(t, o, "out:abc", 5*time.Second)
	waitOutput(t, e, "err:abc", 5*time.Second)
	if strings.Contains(o.String(), "err:") {
		t.Fatalf("stderr on stdout: %q", o.String())
	}
	// Closing the attach's stdin does not close the container's (no
	// StdinOnce); the attach ends with the container, with its status.
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(300 * time.Millisecond)
	if got := format(t, d, name, "{{.State.Running}}"); got != "true" {
		t.Fatal("container stopped when the attach closed its stdin")
	}
	docker(t, "kill", name)
	select {
	case err := <-done:
		if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 137 {
			t.Fatalf("attach ended with %v, want status 137", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("attach did not end when the container was killed")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s || strings.HasPrefix(x, s+":") {
			return true
		}
	}
	return false
}

func TestExecInteractive(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "ex")
	runD(t, d, "--name", name, "busybox", "sleep", "600")
	p := startPty(t, d.DockerCmd("exec", "-it", name, "sh"))
	waitOutput(t, p.out, "# ", 10*time.Second)
	p.write(t, "echo in-exec-$((2*21)); tty\r")
	waitOutput(t, p.out, "in-exec-42", 5*time.Second)
	waitOutput(t, p.out, "/dev/pts/", 5*time.Second)
	p.write(t, "exit 5\r")
	if code := p.wait(t, 10*time.Second); code != 5 {
		t.Fatalf("exec -it exit %d; output %q", code, p.out.String())
	}
	if got := format(t, d, name, "{{.State.Running}}"); got != "true" {
		t.Fatal("container stopped with the exec")
	}
}

func TestExecOptions(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "exo")
	id := runD(t, d, "--name", name, "-e", "FROM_RUN=1", "busybox", "sleep", "600")
	if got := strings.TrimSpace(docker(t, "exec", name, "sh", "-c", "echo $$ $FROM_RUN")); strings.HasPrefix(got, "1 ") || !strings.HasSuffix(got, " 1") {
		t.Errorf("exec env inherits the container's: %q", got)
	}
	if got := strings.TrimSpace(docker(t, "exec", "-u", "1000:1000", name, "id", "-u")); got != "1000" {
		t.Errorf("exec -u: %q", got)
	}
	if got := strings.TrimSpace(docker(t, "exec", "-u", "user", name, "id", "-un")); got != "user" {
		t.Errorf("exec -u by name: %q", got)
	}
	if got := strings.TrimSpace(docker(t, "exec", "-w", "/etc", name, "pwd")); got != "/etc" {
		t.Errorf("exec -w: %q", got)
	}
	if got := strings.TrimSpace(docker(t, "exec", "-e", "A=b c", "-e", "FROM_RUN=2", name, "sh", "-c", "echo $A-$FROM_RUN")); got != "b c-2" {
		t.Errorf("exec -e: %q", got)
	}
	st := docker(t, "exec", name, "cat", "/proc/self/status")
	if capLine(t, st, "CapEff") != capMask(0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31) {
		t.Errorf("exec CapEff %s", capLine(t, st, "CapEff"))
	}
	// Exit codes come back, including 126/127.
	if _, _, code := dockerRes(t, d, "exec", name, "sh", "-c", "exit 42"); code != 42 {
		t.Errorf("exec exit 42: %d", code)
	}
	if _, e, code := dockerRes(t, d, "exec", name, "nosuchcmd"); code != 127 || !strings.Contains(e, "executable file not found") {
		t.Errorf("exec nosuchcmd: %d %q", code, e)
	}
	if _, e, code := dockerRes(t, d, "exec", name, "/etc/passwd"); code != 126 || !strings.Contains(e, "permission denied") {
		t.Errorf("exec /etc/passwd: %d %q", code, e)
	}
	// Detached exec and its inspect.
	code, body := api(t, d, "POST", "/containers/"+id+"/exec", `{"Cmd":["sh","-c","sleep 0.3; exit 3"]}`)
	if code != 201 {
		t.Fatalf("exec create: %d %s", code, body)
	}
	var ex struct{ Id string }
	jsonUnmarshal(t, body, &ex)
	if code, body := api(t, d, "POST", "/exec/"+ex.Id+"/start", `{"Detach":true}`); code != 200 {
		t.Fatalf("exec start: %d %s", code, body)
	}
	harness.Eventually(t, 5*time.Second, "the detached exec to end", func() bool {
		_, b := api(t, d, "GET", "/exec/"+ex.Id+"/json", "")
		return strings.Contains(b, `"Running":false`) && strings.Contains(b, `"ExitCode":3`)
	})
	_, body = api(t, d, "GET", "/exec/"+ex.Id+"/json", "")
	if !strings.Contains(body, `"ContainerID":"`+id+`"`) || !strings.Contains(body, `"Pid":`) {
		t.Errorf("exec inspect: %s", body)
	}
	// Exec into a stopped container is a conflict.
	docker(t, "stop", "-t", "0", name)
	_, e, c := dockerRes(t, d, "exec", name, "true")
	if c == 0 || !strings.Contains(e, "is not running") {
		t.Errorf("exec into stopped: %d %q", c, e)
	}
}

func TestExecPrivileged(t *testing.T) {
	setup(t, d)
	// Every capability the daemon holds (see TestPrivileged).
	st, _ := os.ReadFile("/proc/self/status")
	all := capLine(t, string(st), "CapBnd")
	name := uniqueName(t, "exp")
	runD(t, d, "--name", name, "busybox", "sleep", "600")
	out := docker(t, "exec", "--privileged", name, "cat", "/proc/self/status")
	if got := capLine(t, out, "CapEff"); got != all {
		t.Errorf("exec --privileged CapEff %s, want %s", got, all)
	}
}
