package system

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

func TestConfigFlagAndFileConflict(t *testing.T) {
	dd, err := harness.New(harness.Options{Config: `{"log-level":"info","labels":["a=b"]}`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dd.Cleanup)
	if err := dd.Start("--log-level", "debug"); err == nil {
		t.Fatal("daemon started with a key given as flag and in the file")
	}
	want := "unable to configure the Docker daemon with file " + dd.ConfigFile + ": the following directives are specified both as a flag and in the configuration file: log-level: (from flag: debug, from file: info)"
	if !strings.Contains(dd.Log(), want) || dd.ExitCode() != 1 {
		t.Fatalf("exit %d, log:\n%s", dd.ExitCode(), dd.Log())
	}
}

func TestConfigUnknownKey(t *testing.T) {
	dd, err := harness.New(harness.Options{Config: `{"log-level":"info","no-such-option":true}`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dd.Cleanup)
	if err := dd.Start(); err == nil {
		t.Fatal("daemon started with an unknown key")
	}
	if !strings.Contains(dd.Log(), "the following directives don't match any configuration option: no-such-option") {
		t.Fatalf("log:\n%s", dd.Log())
	}
}

func TestConfigValidateFlag(t *testing.T) {
	dd, err := harness.New(harness.Options{Config: `{"log-level":"warn"}`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dd.Cleanup)
	bin, _ := harness.Binary()
	out, err := exec.Command(bin, append(dd.BaseArgs(), "--validate")...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "configuration OK" {
		t.Fatalf("--validate: %v %s", err, out)
	}
}

// TestReloadOnSIGHUP changes the log level in daemon.json, sends SIGHUP and
// checks the new level takes effect and a `daemon reload` event is logged.
func TestReloadOnSIGHUP(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Config: `{"log-level":"info"}`})
	since := time.Now().Add(-time.Second)
	if strings.Contains(dd.Log(), "API request") {
		t.Fatal("debug log before reload")
	}
	if err := os.WriteFile(dd.ConfigFile, []byte(`{"log-level":"debug","labels":["reloaded=yes"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := dd.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := dd.DockerT(t, "info", "--format", "{{json .Labels}}")
		if strings.Contains(out, "reloaded=yes") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("labels not reloaded: %s\n%s", out, dd.LogTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	dd.DockerT(t, "version")
	if !strings.Contains(dd.Log(), `msg="API request"`) {
		t.Fatalf("log level not reloaded to debug:\n%s", dd.LogTail(20))
	}
	until := time.Now().Add(time.Second)
	out := dd.DockerT(t, "system", "events",
		"--since", strconv.FormatInt(since.Unix(), 10),
		"--until", strconv.FormatInt(until.Unix()+1, 10),
		"--filter", "type=daemon", "--format", "{{.Type}} {{.Action}} {{index .Actor.Attributes \"labels\"}}")
	if !strings.Contains(out, "daemon reload [reloaded=yes]") {
		t.Fatalf("no reload event: %q", out)
	}
	// A broken file is refused and changes nothing.
	os.WriteFile(dd.ConfigFile, []byte(`{"log-level":`), 0o644)
	dd.Signal(syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	if out := dd.DockerT(t, "info", "--format", "{{json .Labels}}"); !strings.Contains(out, "reloaded=yes") {
		t.Fatalf("bad reload changed config: %s", out)
	}
}

func TestKill9ThenRestartOnSameRoot(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{})
	id := strings.TrimSpace(dd.DockerT(t, "info", "--format", "{{.ID}}"))
	pid := dd.Pid()
	if err := dd.Kill(); err != nil {
		t.Fatal(err)
	}
	// The crash leaves the pidfile and the socket behind.
	if b, err := os.ReadFile(dd.Pidfile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Fatalf("pidfile after kill -9: %q %v", b, err)
	}
	if _, err := os.Stat(dd.Socket); err != nil {
		t.Fatalf("socket after kill -9: %v", err)
	}
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(dd.DockerT(t, "info", "--format", "{{.ID}}")); got != id {
		t.Fatalf("engine ID changed across restart: %s → %s", id, got)
	}
}

func TestSecondDaemonOnSameDataRootRefused(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{})
	second, err := harness.New(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Cleanup)
	// Same data-root, everything else private.
	bin, _ := harness.Binary()
	out, err := exec.Command(bin, "-H", second.Host(), "--data-root", dd.DataRoot, "--exec-root", second.ExecRoot,
		"--pidfile", second.Pidfile, "--config-file", second.ConfigFile, "--bridge", second.Bridge).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is in use by another berthd") {
		t.Fatalf("second daemon: %v %s", err, out)
	}
	// Same pidfile, other data-root.
	out, err = exec.Command(bin, "-H", second.Host(), "--data-root", second.DataRoot, "--exec-root", second.ExecRoot,
		"--pidfile", dd.Pidfile, "--config-file", second.ConfigFile, "--bridge", second.Bridge).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "pid file found") {
		t.Fatalf("second daemon on same pidfile: %v %s", err, out)
	}
	dd.DockerT(t, "version")
}

// TestGracefulShutdown stops the daemon while an event stream is open: it
// must end promptly, close the stream and remove its pidfile and socket.
func TestGracefulShutdown(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{})
	events := dd.DockerCmd("events")
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer events.Process.Kill()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := dd.Stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %s", took)
	}
	if dd.ExitCode() != 0 {
		t.Fatalf("exit code %d", dd.ExitCode())
	}
	if _, err := os.Stat(dd.Pidfile); !os.IsNotExist(err) {
		t.Fatalf("pidfile left: %v", err)
	}
	if _, err := os.Stat(dd.Socket); !os.IsNotExist(err) {
		t.Fatalf("socket left: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- events.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("docker events still running after daemon shutdown")
	}
}

func TestPlainTCPRefusedWithoutTLSOptOut(t *testing.T) {
	dd, err := harness.New(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dd.Cleanup)
	port := harness.FreePort(t)
	if err := dd.Start("-H", fmt.Sprintf("tcp://127.0.0.1:%d", port)); err == nil {
		t.Fatal("daemon started on plain TCP without --tls=false")
	}
	if !strings.Contains(dd.Log(), "without encryption") {
		t.Fatalf("log:\n%s", dd.Log())
	}
	// With the explicit opt-out it serves, and info warns.
	if err := dd.Start("-H", fmt.Sprintf("tcp://127.0.0.1:%d", port), "--tls=false"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker", "-H", fmt.Sprintf("tcp://127.0.0.1:%d", port), "info", "--format", "{{json .Warnings}}")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dd.DockerCfg)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "without encryption") {
		t.Fatalf("plain TCP info: %v %s", err, out)
	}
}

// TestSocketActivation hands berthd a listening unix socket the way systemd
// does (fd 3, LISTEN_FDS=1, LISTEN_PID of the daemon) and serves on fd://.
func TestSocketActivation(t *testing.T) {
	dd, err := harness.New(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dd.Cleanup)
	sock := filepath.Join(dd.Root, "activated.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	f, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	bin, _ := harness.Binary()
	args := []string{"-H", "fd://", "--data-root", dd.DataRoot, "--exec-root", dd.ExecRoot, "--pidfile", dd.Pidfile, "--config-file", dd.ConfigFile, "--bridge", dd.Bridge}
	// LISTEN_PID must be the daemon's own PID: the shell learns it with $$
	// and keeps it through exec.
	cmd := exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`, bin}, args...)...)
	cmd.ExtraFiles = []*os.File{f}
	logf, _ := os.Create(dd.LogFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	var out []byte
	for i := 0; i < 200; i++ {
		c := exec.Command("curl", "-s", "--unix-socket", sock, "http://x/_ping")
		out, _ = c.Output()
		if string(out) == "OK" {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if string(out) != "OK" {
		b, _ := os.ReadFile(dd.LogFile)
		t.Fatalf("no _ping over the activated socket: %q\n%s", out, b)
	}
}

// TestNotifySocket checks READY=1 and STOPPING=1 reach $NOTIFY_SOCKET.
func TestNotifySocket(t *testing.T) {
	dd, err := harness.New(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dd.Cleanup)
	ns := filepath.Join(dd.Root, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bin, _ := harness.Binary()
	cmd := exec.Command(bin, dd.BaseArgs()...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+ns)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	msgs := make(chan string, 4)
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	expect := func(want string) {
		select {
		case m := <-msgs:
			if m != want {
				t.Fatalf("notify %q, want %q", m, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s notification", want)
		}
	}
	expect("READY=1")
	cmd.Process.Signal(syscall.SIGTERM)
	expect("STOPPING=1")
	cmd.Wait()
}
