package pidfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/atomicfile"
)

// Read returns the PID recorded in path, or 0 with an error.
func Read(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		return 0, fmt.Errorf("invalid pid file %s: %w", path, err)
	}
	return pid, nil
}

// alive reports whether pid is a live process that runs the same executable
// as we do. Comparing executables keeps a recycled PID (the old daemon died
// and an unrelated process took its number) from blocking the start.
func alive(pid int) bool {
	if pid <= 0 || pid == os.Getpid() {
		return false
	}
	if err := unix.Kill(pid, 0); err != nil && err != unix.EPERM {
		return false
	}
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		// Cannot tell (hidepid, another pid namespace): be safe, assume it is ours.
		return true
	}
	ours, err := os.Executable()
	if err != nil {
		return true
	}
	return filepath.Base(theirs) == filepath.Base(ours)
}

// Write records our PID in path. It fails if path names a live daemon.
func Write(path string) error {
	if pid, err := Read(path); err == nil && alive(pid) {
		return fmt.Errorf("pid file found, ensure berthd is not running or delete %s", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// Remove deletes path if it still names us.
func Remove(path string) error {
	if pid, err := Read(path); err == nil && pid != os.Getpid() {
		return nil
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
