package registrytest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Registry is a docker-registry process serving on Addr.
type Registry struct {
	Addr string // 127.0.0.1:port
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// FreeLoopbackPort is a TCP port on 127.0.0.1 that was free a moment ago.
func FreeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs docker-registry on 127.0.0.1:port with empty storage in a
// new directory under root, and waits until it answers /v2/.
func Start(root string, port int) (*Registry, error) {
	if _, err := exec.LookPath("docker-registry"); err != nil {
		return nil, fmt.Errorf("docker-registry (Debian package docker-registry) is not installed")
	}
	dir, err := os.MkdirTemp(root, "registry-")
	if err != nil {
		return nil, err
	}
	r := &Registry{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, done: make(chan struct{})}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: %s\n", dir, r.Addr)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, _ := os.Create(filepath.Join(dir, "log"))
	r.cmd = exec.Command("docker-registry", "serve", filepath.Join(dir, "config.yml"))
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { r.cmd.Wait(); logf.Close(); close(r.done) }()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return r, nil
		}
		if i > 200 {
			r.Stop()
			return nil, fmt.Errorf("docker-registry did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the registry by its PID (SIGTERM, SIGKILL after 10 s) and
// deletes its storage.
func (r *Registry) Stop() {
	syscall.Kill(r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
	os.RemoveAll(r.dir)
}
