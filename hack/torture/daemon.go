package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// pool is the address pool of the torture daemon (-pool): every bridge
// holding an address in it is ours, and so is every nft rule naming one.
// Two runs on one host need two pools, or each takes the other's bridges
// for its own orphans (and its cleanup deletes them).
var pool = "10.211.0.0/16"

// daemon is the berthd under torture, on roots of its own under root.
type daemon struct {
	bin, root                string
	dataRoot, execRoot, sock string
	pidfile, logPath, bridge string
	table                    string
	mu                       sync.Mutex
	cmd                      *exec.Cmd
	exited                   chan struct{}
	liveRestore              bool
	extraArgs                []string // more daemon flags, for a scenario
	cli                      *client.Client
}

// newDaemon prepares a daemon on roots under root; its data-root is
// dataRoot, or root/data when that is empty.
func newDaemon(bin, root, dataRoot string) *daemon {
	if dataRoot == "" {
		dataRoot = filepath.Join(root, "data")
	}
	d := &daemon{
		bin:      bin,
		root:     root,
		dataRoot: dataRoot,
		execRoot: filepath.Join(root, "exec"),
		sock:     filepath.Join(root, "d.sock"),
		pidfile:  filepath.Join(root, "d.pid"),
		logPath:  filepath.Join(root, "berthd.log"),
		bridge:   fmt.Sprintf("btt%d", os.Getpid()%100000),
	}
	h := sha256.Sum256([]byte(d.dataRoot))
	d.table = "berth-" + hex.EncodeToString(h[:4])
	return d
}

// start runs berthd and waits for /_ping; it returns how long that took.
// stopping is set on SIGINT/SIGTERM: no daemon is started from then on.
var stopping atomic.Bool

func (d *daemon) start(liveRestore bool) (time.Duration, error) {
	if stopping.Load() {
		return 0, fmt.Errorf("interrupted")
	}
	os.WriteFile(filepath.Join(d.root, "daemon.json"), []byte("{}"), 0o644)
	args := []string{
		"-H", "unix://" + d.sock,
		"--data-root", d.dataRoot,
		"--exec-root", d.execRoot,
		"--pidfile", d.pidfile,
		"--config-file", filepath.Join(d.root, "daemon.json"),
		"--bridge", d.bridge,
		"--default-address-pool", "base=" + pool + ",size=24",
	}
	if liveRestore {
		args = append(args, "--live-restore")
	}
	args = append(args, d.extraArgs...)
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "---- %s berthd %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(d.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	d.mu.Lock()
	d.cmd, d.exited, d.liveRestore = cmd, exited, liveRestore
	d.mu.Unlock()
	if stopping.Load() {
		d.kill()
		return 0, fmt.Errorf("interrupted")
	}
	if d.cli == nil {
		c, err := client.New(client.WithHost("unix://"+d.sock), client.WithAPIVersionNegotiation())
		if err != nil {
			return 0, err
		}
		d.cli = c
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := d.cli.Ping(ctx, client.PingOptions{})
		cancel()
		if err == nil {
			return time.Since(t0), nil
		}
		select {
		case <-exited:
			return 0, fmt.Errorf("berthd exited during start; see %s", d.logPath)
		default:
		}
		if time.Since(t0) > 60*time.Second {
			d.kill()
			return 0, fmt.Errorf("berthd did not answer /_ping within 60s; see %s", d.logPath)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// take hands over the running daemon's process (nil if there is none)
// and the channel closed when it has exited, for the caller to end it.
func (d *daemon) take() (*exec.Cmd, chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cmd, exited := d.cmd, d.exited
	d.cmd = nil
	return cmd, exited
}

// kill SIGKILLs the daemon, by its PID only, and waits for it.
func (d *daemon) kill() {
	cmd, exited := d.take()
	if cmd == nil {
		return
	}
	syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// stop ends the daemon with SIGTERM (SIGKILL after 30 s).
func (d *daemon) stop() { d.killDuringStop(30 * time.Second) }

// killDuringStop sends SIGTERM, then SIGKILL after delay unless the
// daemon has stopped by then: a crash during the daemon's own shutdown.
func (d *daemon) killDuringStop(delay time.Duration) {
	cmd, exited := d.take()
	if cmd == nil {
		return
	}
	syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(delay):
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

func (d *daemon) pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// logTail is the end of the daemon's log, for a violation's context.
func (d *daemon) logTail(n int) string {
	b, _ := os.ReadFile(d.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
