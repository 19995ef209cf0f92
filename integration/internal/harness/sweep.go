package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthd/berth/pkg/procstat"
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
	b, _ := json.Marshal(owner{Pid: os.Getpid(), StartTime: procstat.StartTime(os.Getpid()), DataRoot: d.DataRoot, Bridge: d.Bridge})
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
		if json.Unmarshal(b, &o) != nil || o.Pid <= 0 || o.DataRoot == "" || procstat.StartTime(o.Pid) == o.StartTime {
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
		if procstat.StartTime(pid) == 0 {
			return nil // gone, or a zombie its adopter reaps soon
		}
	}
	return fmt.Errorf("daemon %d did not die", pid)
}
