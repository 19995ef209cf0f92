package procns

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// StartInPIDNamespace starts cmd as a child in the PID namespace of pid
// (cmd.Start when pid is 0). setns(CLONE_NEWPID) changes only where the
// calling thread's children go, so the fork runs on a thread of its own,
// which is then thrown away: it stays locked when its goroutine ends.
// The child's PID in cmd.Process is the caller's namespace's.
func StartInPIDNamespace(cmd *exec.Cmd, pid int) error {
	if pid == 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/pid", pid))
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWPID); err != nil {
			errc <- fmt.Errorf("entering the PID namespace of %d: %w", pid, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// WithMountNamespace wraps cmd so that it runs in the mount namespace of
// pid, through nsenter, which execs it (the PID stays cmd's): a process
// of a PID namespace needs that namespace's /proc. nsenter would start it
// in the namespace's root directory: it keeps the caller's (or cmd.Dir).
func WithMountNamespace(cmd *exec.Cmd, pid int) *exec.Cmd {
	wd := cmd.Dir
	if wd == "" {
		wd, _ = os.Getwd()
	}
	bin := cmd.Path
	if !filepath.IsAbs(bin) && wd != "" {
		bin = filepath.Join(wd, bin)
	}
	w := exec.Command("nsenter", append([]string{fmt.Sprintf("--mount=/proc/%d/ns/mnt", pid), "--wd=" + wd, "--", bin}, cmd.Args[1:]...)...)
	w.Env, w.Dir, w.Stdin, w.Stdout, w.Stderr, w.SysProcAttr = cmd.Env, cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.SysProcAttr
	return w
}
