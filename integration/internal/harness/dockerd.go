package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Dockerd is a real dockerd (Debian's docker.io) started for one test on
// its own socket, data-root, exec-root and pidfile, with no bridge and no
// netfilter rules, so it never touches the host's daemon or network.
type Dockerd struct {
	Root, Sock string
	cmd        *exec.Cmd
	done       chan struct{}
}

func StartDockerd(t *testing.T) *Dockerd {
	t.Helper()
	bin, err := exec.LookPath("dockerd")
	Require(t, err == nil, "dockerd (Debian package docker.io)")
	if err != nil {
		return nil
	}
	// Short: the sockets of dockerd and its containerd live below it.
	root, err := os.MkdirTemp("", "bd-")
	if err != nil {
		t.Fatal(err)
	}
	r := &Dockerd{Root: root, Sock: filepath.Join(root, "d.sock"), done: make(chan struct{})}
	os.WriteFile(filepath.Join(root, "daemon.json"), []byte("{}"), 0o644)
	logf, _ := os.Create(filepath.Join(root, "dockerd.log"))
	r.cmd = exec.Command(bin,
		"-H", "unix://"+r.Sock,
		"--data-root", filepath.Join(root, "data"),
		"--exec-root", filepath.Join(root, "exec"),
		"--pidfile", filepath.Join(root, "d.pid"),
		"--config-file", filepath.Join(root, "daemon.json"),
		"--bridge=none", "--iptables=false", "--ip6tables=false")
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); logf.Close(); close(r.done) }()
	t.Cleanup(func() { r.stop(t) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := r.Client().Get("http://d/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return r
			}
		}
		select {
		case <-r.done:
			b, _ := os.ReadFile(filepath.Join(root, "dockerd.log"))
			t.Fatalf("dockerd exited during start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("dockerd did not answer /_ping in 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// children lists the PIDs whose parent is pid.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// stop ends dockerd by its PID and then the containerd it started (its
// child), by PID too, then removes its root.
func (r *Dockerd) stop(t *testing.T) {
	pid := r.cmd.Process.Pid
	kids := children(pid)
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		<-r.done
	}
	for _, k := range kids {
		for i := 0; i < 100 && syscall.Kill(k, 0) == nil; i++ {
			if i == 50 {
				syscall.Kill(k, syscall.SIGKILL)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	UnmountUnder(r.Root)
	if t.Failed() {
		b, _ := os.ReadFile(filepath.Join(r.Root, "dockerd.log"))
		lines := strings.Split(string(b), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		t.Logf("dockerd log tail:\n%s", strings.Join(lines, "\n"))
	}
	os.RemoveAll(r.Root)
}

// Client talks HTTP to the dockerd socket (any host name in URLs).
func (r *Dockerd) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", r.Sock)
	}}}
}

// Docker runs the docker CLI against this dockerd and fails t on error.
func (r *Dockerd) Docker(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	// As Daemon.DockerCmd: the classic builder, which berth compares with.
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+r.Sock, "DOCKER_CONFIG="+filepath.Join(r.Root, "cli"),
		"DOCKER_CLI_HINTS=false", "DOCKER_BUILDKIT=0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker %s (dockerd): %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// Host is the DOCKER_HOST value for this dockerd.
func (r *Dockerd) Host() string { return "unix://" + r.Sock }

// CLIDir is the private DOCKER_CONFIG of this dockerd's CLI calls.
func (r *Dockerd) CLIDir() string { return filepath.Join(r.Root, "cli") }
