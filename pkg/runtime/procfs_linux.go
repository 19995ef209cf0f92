package runtime

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Writes to /proc (sysctls, oom_score_adj, LSM attributes, the exec FIFO
// reopened through its descriptor) never go through the container's /proc
// by path: a mount that a shared volume or a symlink race put over a file
// of it would redirect the write, e.g. from attr/exec to
// /proc/sys/kernel/core_pattern (CVE-2025-52881). They go through a handle
// of a private procfs instance that pathrs-lite opens and verifies, and the
// file that was opened must be on procfs before a byte is written.

var procRoot = sync.OnceValues(procfs.OpenProcRoot)

// procBase says which part of procfs a procWrite targets.
type procBase int

const (
	procThreadSelf procBase = iota // /proc/thread-self/<path>: this thread's files
	procGlobal                     // /proc/<path>: sysctls
)

// openProc opens /proc/thread-self/<sub> or /proc/<sub> through the
// verified procfs handle, with flags, and checks that what it got is a
// procfs file. The caller is on its locked OS thread.
func openProc(base procBase, sub string, flags int) (*os.File, error) {
	proc, err := procRoot()
	if err != nil {
		return nil, fmt.Errorf("open procfs: %w", err)
	}
	var handle *os.File
	switch base {
	case procThreadSelf:
		var closer procfs.ProcThreadSelfCloser
		handle, closer, err = proc.OpenThreadSelf(sub)
		if closer != nil {
			// Stages run on a locked thread: unlocking only undoes the
			// lock that OpenThreadSelf took.
			defer closer()
		}
	default:
		handle, err = proc.OpenRoot(sub)
	}
	if err != nil {
		return nil, err
	}
	defer handle.Close()
	f, err := pathrs.Reopen(handle, flags)
	if err != nil {
		return nil, err
	}
	if err := onProcfs(int(f.Fd())); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", sub, err)
	}
	return f, nil
}

// onProcfs checks that fd is a file of a procfs.
func onProcfs(fd int) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return err
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("not on procfs (filesystem type %#x)", st.Type)
	}
	return nil
}

// procWrite writes data to a procfs file in one write(2), as the kernel
// wants for sysctls and LSM attributes.
func procWrite(base procBase, sub string, data []byte) error {
	f, err := openProc(base, sub, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = fmt.Errorf("short write to %s", sub)
	}
	return err
}

// writeSysctl sets one sysctl of the container's namespaces; its name is
// the dotted form, where "/" stands for a dot inside one element, as runc
// reads it.
func writeSysctl(key, value string) error {
	return procWrite(procGlobal, "sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value))
}

// setLSMExecAttr writes value to this thread's LSM exec attribute: the
// per-LSM file (attr/<lsm>/exec) where the kernel has it, else the shared
// attr/exec.
func setLSMExecAttr(lsm, value string) error {
	err := procWrite(procThreadSelf, "attr/"+lsm+"/exec", []byte(value))
	if errors.Is(err, os.ErrNotExist) {
		err = procWrite(procThreadSelf, "attr/exec", []byte(value))
	}
	return err
}

// netSysctl returns a sysctl of the network namespace among sysctls, or "".
func netSysctl(sysctls map[string]string) string {
	for k := range sysctls {
		if strings.HasPrefix(k, "net.") {
			return k
		}
	}
	return ""
}

// hostNetNSFor returns the creator's network namespace when spec has
// net.* sysctls, for the stage's own check (checkNetSysctls).
func hostNetNSFor(spec *specs.Spec) (*nsID, error) {
	if spec.Linux == nil || netSysctl(spec.Linux.Sysctl) == "" {
		return nil, nil
	}
	// This thread's: a goroutine that is not locked never runs on a
	// thread moved into a container's namespace.
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	return &nsID{Dev: st.Dev, Ino: st.Ino}, nil
}

// checkNetSysctls refuses net.* sysctls when the stage, now in the
// namespaces it runs in, is in its creator's network namespace. The
// engine checks the spec before, by the path of a namespace that names a
// process (/proc/<pid>/ns/net); the process may have exited and its PID
// gone to one in the host's namespace meanwhile, and the sysctl would
// then change the host. The namespace is read through the verified
// procfs handle.
func checkNetSysctls(cfg *stageConfig) error {
	if cfg.HostNetNS == nil {
		return nil
	}
	key := netSysctl(cfg.Spec.Linux.Sysctl)
	if key == "" {
		return nil
	}
	ns, err := openProc(procThreadSelf, "ns", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	defer ns.Close()
	var st unix.Stat_t
	// Followed: the magic link leads to the namespace's nsfs inode.
	if err := unix.Fstatat(int(ns.Fd()), "net", &st, 0); err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	if st.Dev == cfg.HostNetNS.Dev && st.Ino == cfg.HostNetNS.Ino {
		return fmt.Errorf("sysctl %q not allowed in host network namespace", key)
	}
	return nil
}
