package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ownerFile, in each daemon's root, names the test process that made the
// root: a root whose owner is gone was left by a test binary that was
// killed (a timeout, a Ctrl-C, a helper's kill) before its Cleanup ran,
// and its daemon, shims, mounts, cgroups, bridges and tables are still on
// the host.
const ownerFile = "owner.json"

// owner is what ownerFile holds: enough to know that the process is the
// same one (a PID can be reused: its start time tells them apart) and to
// find what its daemon left outside the root.
type owner struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	DataRoot  string `json:"data_root"`
	Bridge    string `json:"bridge"`
}

var sweepOnce sync.Once

func (d *Daemon) writeOwner() error {
	start, err := processStartTime(os.Getpid())
	if err != nil {
		return err
	}
	b, _ := json.Marshal(owner{Pid: os.Getpid(), StartTime: start, DataRoot: d.DataRoot, Bridge: d.Bridge})
	return os.WriteFile(filepath.Join(d.Root, ownerFile), b, 0o644)
}

// SweepDeadRoots releases the roots under the temporary directory whose
// test process has died: it kills the daemon the dead test started (found
// by its pidfile and checked by its command line) and then releases the
// host as Cleanup does. Roots of living tests, of other users of the
// directory, and those without an owner file are left alone. New calls
// it once per test binary.
func SweepDeadRoots() {
	roots, _ := filepath.Glob(filepath.Join(os.TempDir(), "bt-*"))
	for _, root := range roots {
		b, err := os.ReadFile(filepath.Join(root, ownerFile))
		if err != nil {
			continue
		}
		var o owner
		if json.Unmarshal(b, &o) != nil || o.Pid <= 0 || o.DataRoot == "" || processAlive(o.Pid, o.StartTime) {
			continue
		}
		d := &Daemon{Root: root, DataRoot: o.DataRoot, Bridge: o.Bridge, Pidfile: filepath.Join(root, "berthd.pid")}
		if !strings.HasPrefix(o.DataRoot, root+string(filepath.Separator)) {
			// The test's own data-root (a loop mount): what the daemon
			// mounted below it goes; the mount itself is the test's.
			d.Options.DataRoot = o.DataRoot
		}
		if err := d.killOrphan(); err != nil {
			fmt.Fprintf(os.Stderr, "harness: leaving %s: %v\n", root, err)
			continue
		}
		d.releaseHost()
	}
}

// killOrphan SIGKILLs the daemon a dead test left running on this root,
// if its pidfile names a process whose command line is that daemon's.
func (d *Daemon) killOrphan() error {
	b, err := os.ReadFile(d.Pidfile)
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "\x00"+d.DataRoot+"\x00") {
		return nil // gone, or the PID is someone else's now
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if st, _ := processState(pid); st == "Z" {
			return nil // reaped by whoever adopted it, soon
		}
	}
	return fmt.Errorf("daemon %d did not die", pid)
}

// processAlive reports whether pid is still the process that started at
// start (clock ticks since boot).
func processAlive(pid int, start uint64) bool {
	got, err := processStartTime(pid)
	return err == nil && got == start
}

// statFields are /proc/PID/stat's fields after the command name, which
// may itself hold spaces and parentheses.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

func processStartTime(pid int) (uint64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 20 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	// Field 22 of stat; the first after the name is field 3.
	return strconv.ParseUint(f[19], 10, 64)
}

func processState(pid int) (string, error) {
	f, err := statFields(pid)
	if err != nil || len(f) == 0 {
		return "", err
	}
	return f[0], nil
}
