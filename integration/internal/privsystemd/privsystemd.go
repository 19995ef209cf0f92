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
)

// Systemd is one private systemd.
type Systemd struct {
	// Pid is systemd's PID in the test's (the host's) PID namespace.
	Pid int
	// Cgroup is the cgroup, on every hierarchy, holding its tree: its
	// root, where "-.slice" is.
	Cgroup string
	cmd    *exec.Cmd
}

// units boot the private manager: its target wants the bus, and the bus
// units are the Debian ones without default dependencies (there is no
// sysinit.target to order after).
var units = map[string]string{
	"berth-test.target": "[Unit]\nDescription=berth test system\nWants=dbus.socket\n",
	"dbus.socket":       "[Unit]\nDescription=D-Bus System Message Bus Socket\nDefaultDependencies=no\n[Socket]\nListenStream=/run/dbus/system_bus_socket\n",
	"dbus.service": "[Unit]\nDescription=D-Bus System Message Bus\nDefaultDependencies=no\nRequires=dbus.socket\n" +
		"[Service]\nType=notify\nNotifyAccess=main\nExecStart=/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --nosyslog\n",
}

// script runs in the new namespaces: it moves itself into the private
// cgroup on every hierarchy, gives systemd a /proc and a /run of its
// own, writes the units, and execs systemd.
const script = `set -e
cg=$1 units=$2
for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  [ -e "$h/cgroup.procs" ] || continue
  mkdir -p "$h$cg"
  if [ -e "$h/cpuset.cpus" ] && [ ! -e "$h/cgroup.controllers" ]; then
    cat "$h/cpuset.cpus" > "$h$cg/cpuset.cpus"; cat "$h/cpuset.mems" > "$h$cg/cpuset.mems"
  fi
  echo $$ > "$h$cg/cgroup.procs"
done
mount -t proc proc /proc
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/systemd/system
cp "$units"/* /run/systemd/system/
export container=berth-test
exec /lib/systemd/systemd --system --unit=berth-test.target --log-level=warning
`

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
// registered as t's cleanup.
func Start(t testing.TB) *Systemd {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	s := &Systemd{Cgroup: "/berth-systemd-" + hex.EncodeToString(b)}
	dir := t.TempDir()
	for name, body := range units {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount", "--uts", "--propagation", "private",
		"sh", "-c", script, "sh", strings.TrimPrefix(s.Cgroup, "/"), dir)
	out, err := os.Create(filepath.Join(dir, "systemd.log"))
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
