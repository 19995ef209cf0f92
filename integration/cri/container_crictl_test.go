package cri

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

// crictlPath is the kit's crictl (/work/shared/cri), or $CRICTL.
func crictlPath(t *testing.T) string {
	p := os.Getenv("CRICTL")
	if p == "" {
		p = "/var/tmp/berth-cri/bin/crictl"
	}
	_, err := os.Stat(p)
	harness.Require(t, err == nil, "crictl at %s (build it with /work/shared/cri/build-tools.sh, or set CRICTL)", p)
	return p
}

// crictlCmd is crictl against the test daemon's CRI socket, killed if it
// outlives the test's minute.
func crictlCmd(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctxT(t), crictlPath(t), append([]string{"--runtime-endpoint", "unix://" + criSocket(), "--timeout", "20s"}, args...)...)
	cmd.Env = append(os.Environ(), "CRI_CONFIG_FILE=/dev/null")
	return cmd
}

// crictl runs crictl and answers its output; a failure fails the test.
func crictl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := crictlCmd(t, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("crictl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// writeJSON writes v as dir/name for crictl's file arguments.
func writeJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCrictlContainerSmoke: the container commands of crictl, as an
// operator types them: create, start, ps, inspect, exec -s, logs, exec
// and exec -i (the streaming server), attach -i, stop, rm.
func TestCrictlContainerSmoke(t *testing.T) {
	pod := newTestPod(t)
	dir := t.TempDir()
	podJSON := writeJSON(t, dir, "pod.json", map[string]any{
		"metadata":      map[string]any{"name": pod.Config.Metadata.Name, "namespace": pod.Config.Metadata.Namespace, "uid": pod.Config.Metadata.Uid},
		"log_directory": pod.Config.LogDirectory,
	})
	ctrJSON := writeJSON(t, dir, "ctr.json", map[string]any{
		"metadata": map[string]any{"name": "smoke"},
		"image":    map[string]any{"image": harness.BusyboxImage},
		"command":  []string{"sh", "-c", "echo smoke-says-hi; exec sleep 1000"},
		"log_path": "smoke/0.log",
	})
	id := strings.TrimSpace(crictl(t, "create", "--no-pull", pod.ID, ctrJSON, podJSON))
	t.Cleanup(func() { d.Docker("rm", "-f", id) })
	crictl(t, "start", id)
	if out := crictl(t, "ps", "-q", "--pod", pod.ID); strings.TrimSpace(out) != id {
		t.Fatalf("crictl ps: %q", out)
	}
	var inspect struct {
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(crictl(t, "inspect", "-o", "json", id)), &inspect); err != nil || inspect.Status.State != "CONTAINER_RUNNING" {
		t.Fatalf("crictl inspect: %v %+v", err, inspect)
	}
	if out := crictl(t, "exec", "-s", id, "echo", "from-exec"); strings.TrimSpace(out) != "from-exec" {
		t.Fatalf("crictl exec -s: %q", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for out := ""; !strings.Contains(out, "smoke-says-hi"); out = crictl(t, "logs", id) {
		if time.Now().After(deadline) {
			t.Fatalf("crictl logs: %q", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := crictl(t, "exec", id, "sh", "-c", "echo via-stream; echo to-stderr >&2"); !strings.Contains(out, "via-stream") || !strings.Contains(out, "to-stderr") {
		t.Fatalf("crictl exec: %q", out)
	}
	cmd := crictlCmd(t, "exec", "-i", id, "sh", "-c", "read x; echo got-$x; exit 5")
	cmd.Stdin = strings.NewReader("hello\n")
	out, err := cmd.CombinedOutput()
	// crictl reports the command's exit code in its message, and fails.
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(out), "exit code 5") || !strings.Contains(string(out), "got-hello") {
		t.Fatalf("crictl exec -i: %v %q", err, out)
	}
	// Stdin reaches the command byte for byte: ctrl-p ctrl-q (docker's
	// detach keys) too, as in kubectl cp's tar stream.
	cmd = crictlCmd(t, "exec", "-i", id, "wc", "-c")
	cmd.Stdin = strings.NewReader("a\x10\x11b\n")
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != "5" {
		t.Fatalf("crictl exec -i with ctrl-p ctrl-q in stdin: %v %q", err, out)
	}
	// Attach to a TTY-less main process that echoes its stdin.
	catCfg := writeJSON(t, dir, "cat.json", map[string]any{
		"metadata": map[string]any{"name": "cat"},
		"image":    map[string]any{"image": harness.BusyboxImage},
		"command":  []string{"sh", "-c", "read x; echo attached-$x"},
		"stdin":    true, "stdin_once": true,
		"log_path": "cat/0.log",
	})
	cat := strings.TrimSpace(crictl(t, "create", "--no-pull", pod.ID, catCfg, podJSON))
	t.Cleanup(func() { d.Docker("rm", "-f", cat) })
	crictl(t, "start", cat)
	attach := crictlCmd(t, "attach", "-i", cat)
	attach.Stdin = strings.NewReader("there\n")
	if out, err := attach.CombinedOutput(); err != nil || !strings.Contains(string(out), "attached-there") {
		t.Fatalf("crictl attach -i: %v %q", err, out)
	}
	crictl(t, "stop", "--timeout", "0", id)
	crictl(t, "rm", id, cat)
	if out := crictl(t, "ps", "-a", "-q", "--pod", pod.ID); strings.TrimSpace(out) != "" {
		t.Fatalf("after rm, crictl ps -a: %q", out)
	}
}

// TestCrictlPortForward: crictl port-forward reaches a server that
// listens only on the pod's loopback.
func TestCrictlPortForward(t *testing.T) {
	rt, _ := clients(t)
	pod := newTestPod(t)
	pod.run(t, rt, containerConfig("web", "sh", "-c", "mkdir /tmp/www && echo pong > /tmp/www/ping && exec httpd -f -p 127.0.0.1:8080 -h /tmp/www"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	local := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := crictlCmd(t, "port-forward", pod.ID, fmt.Sprintf("%d:8080", local))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d/ping", local)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) == "pong\n" {
				return
			}
			err = fmt.Errorf("status %s body %q", resp.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s through the forward: %v\ncrictl: %s", url, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
