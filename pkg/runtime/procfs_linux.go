package runtime

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
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
