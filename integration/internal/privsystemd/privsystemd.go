package privsystemd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/integration/internal/harness"
)

// Systemd is one private systemd.
type Systemd struct {
	// Pid is systemd's PID in the test's (the host's) PID namespace.
	Pid int
	// Cgroup is the cgroup, on every hierarchy, holding its tree: its
	// root, where "-.slice" is.
	Cgroup string
	cmd    *exec.Cmd
	script string
}

// Available says why a private systemd cannot run here, or "".
func Available() string {
	for _, p := range []string{"/lib/systemd/systemd", "/usr/bin/dbus-daemon", "/usr/bin/busctl", "/usr/bin/unshare", "/usr/bin/nsenter"} {
		if _, err := os.Stat(p); err != nil {
			return p + " is missing (hack/install-deps.sh installs it)"
		}
	}
	return ""
}

// Start boots a private systemd and waits until its bus answers; Stop is
// registered as t's cleanup. With v2, its namespaces have the unified
// hierarchy on /sys/fs/cgroup: a v1 host looks like a v2 one (with no
// controllers) to systemd and to a daemon that joins them.
func Start(t testing.TB, v2 bool) *Systemd {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	s := &Systemd{Cgroup: "/berth-systemd-" + hex.EncodeToString(b)}
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The script writes the units and execs the launcher (unshare), a
	// child of this process, which reaps it: an unreaped process keeps
	// its cgroups busy.
	args := []string{"run", s.Cgroup}
	if v2 {
		args = append(args, "v2")
	}
	s.script = filepath.Join(root, "hack", "private-systemd.sh")
	cmd := exec.Command(s.script, args...)
	out, err := os.Create(filepath.Join(t.TempDir(), "systemd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if s.Pid == 0 {
			s.Pid = childOf(cmd.Process.Pid)
		}
		if s.Pid != 0 && s.Busctl("get-property", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "Version") == nil {
			return s
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("private systemd (pid %d) did not answer on its bus:\n%s", s.Pid, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childOf is the first child of pid (unshare's, which is systemd once
// the script has exec'd it).
func childOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", n)); strings.TrimSpace(string(comm)) != "systemd" {
		return 0
	}
	return n
}

// BusAddress is the D-Bus address of the private system bus, reachable
// from outside its mount namespace.
func (s *Systemd) BusAddress() string {
	return fmt.Sprintf("unix:path=/proc/%d/root/run/dbus/system_bus_socket", s.Pid)
}

// Busctl runs busctl against the private bus.
func (s *Systemd) Busctl(args ...string) error {
	_, err := s.BusctlOutput(args...)
	return err
}

// BusctlOutput runs busctl against the private bus and returns its output.
func (s *Systemd) BusctlOutput(args ...string) (string, error) {
	out, err := exec.Command("busctl", append([]string{"--address=" + s.BusAddress()}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("busctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Systemctl runs systemctl inside the private manager's namespaces (it
// talks to /run/systemd/private there).
func (s *Systemd) Systemctl(args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(s.Pid), "-m", "-p", "--", "systemctl"}, args...)...).CombinedOutput()
	return string(out), err
}

// ProcPath is path (under /proc) as seen in the private PID namespace:
// ProcPath(pid, "cgroup") for a PID the daemon reports.
func (s *Systemd) ProcPath(pid int, file string) string {
	return fmt.Sprintf("/proc/%d/root/proc/%d/%s", s.Pid, pid, file)
}

// Stop kills systemd, and with it every process of its namespace, and
// removes its cgroups.
func (s *Systemd) Stop() {
	if s.cmd == nil {
		return
	}
	if s.Pid != 0 {
		unix.Kill(s.Pid, unix.SIGKILL)
	}
	unix.Kill(s.cmd.Process.Pid, unix.SIGKILL)
	s.cmd.Wait()
	s.cmd = nil
	roots, _ := filepath.Glob("/sys/fs/cgroup/*" + s.Cgroup)
	if _, err := os.Stat("/sys/fs/cgroup" + s.Cgroup); err == nil {
		roots = append(roots, "/sys/fs/cgroup"+s.Cgroup)
	}
	for _, r := range roots {
		removeTree(r)
	}
	// The hierarchies systemd mounted that the host does not (perf_event,
	// net_cls,net_prio) hold the cgroup too; the script removes it there,
	// which lets each such hierarchy go.
	exec.Command(s.script, "sweep", s.Cgroup).Run()
}

// removeTree removes a cgroup and those below it, deepest first; the
// processes of a killed namespace take a moment to leave them.
func removeTree(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			removeTree(filepath.Join(dir, e.Name()))
		}
	}
	for i := 0; i < 250; i++ {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
