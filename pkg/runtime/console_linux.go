package runtime

import (
	"fmt"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupConsole opens a pty from the container's own devpts instance, sends
// the master to the caller over the console socket and makes the slave the
// stage's stdio and controlling terminal. For the init stage the slave is
// also bound over /dev/console, as runc does.
//
// Nothing here goes by a path the container could have changed: ptmx is
// resolved beneath the root and verified before it is opened, the slave comes
// from the master itself (TIOCGPTPEER), not from /dev/pts/N, and it is
// bound by descriptor onto a /dev/console that was opened without
// following symlinks (CVE-2025-52565).
func setupConsole(bindConsole bool, size *specs.Box) error {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	master, err := openPtmx(root)
	if err != nil {
		return err
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("ptsname: %w", err)
	}
	if size != nil && size.Width > 0 && size.Height > 0 {
		// The initial size from the spec, as runc applies it.
		ws := &unix.Winsize{Col: uint16(size.Width), Row: uint16(size.Height)}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("set console size: %w", err)
		}
	}
	slavePath := fmt.Sprintf("/dev/pts/%d", n)
	slave, err := ptyPeer(master)
	if err != nil {
		return fmt.Errorf("open %s: %w", slavePath, err)
	}
	defer unix.Close(slave)
	if bindConsole {
		if err := bindConsoleDevice(root, slave); err != nil {
			return fmt.Errorf("bind /dev/console: %w", err)
		}
	}
	rights := unix.UnixRights(master)
	if err := unix.Sendmsg(fdConsole, []byte(slavePath), rights, nil, 0); err != nil {
		return fmt.Errorf("send pty master: %w", err)
	}
	unix.Close(fdConsole)
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(slave, i, 0); err != nil {
			return err
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	return nil
}

// openPtmx opens the multiplexer of the container's devpts instance, as
// runc does: /dev/pts/ptmx is resolved beneath the root without following
// a symlink, must be the char device 5:2 of a devpts mount, and only then
// is opened read-write, through procfs. A container sharing /dev through a
// volume (CAP_MKNOD is a default) could otherwise have put any device
// there, or a directory of its own in place of /dev/pts, and opening a
// device can act (a watchdog arms when opened) before any check and
// before the device cgroup applies.
func openPtmx(root int) (int, error) {
	fd, err := openInRoot(root, "/dev/pts/ptmx", unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return -1, fmt.Errorf("open /dev/pts/ptmx: %w", err)
	}
	h := os.NewFile(uintptr(fd), "/dev/pts/ptmx")
	defer h.Close()
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return -1, fmt.Errorf("statfs /dev/pts/ptmx: %w", err)
	}
	if fs.Type != unix.DEVPTS_SUPER_MAGIC {
		return -1, fmt.Errorf("/dev/pts/ptmx is not on a devpts mount (filesystem type %#x)", fs.Type)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return -1, fmt.Errorf("stat /dev/pts/ptmx: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 5 || unix.Minor(st.Rdev) != 2 {
		return -1, fmt.Errorf("/dev/pts/ptmx is not the pty multiplexer (mode %#o, device %d:%d)",
			st.Mode&unix.S_IFMT, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	f, err := pathrs.Reopen(h, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("open /dev/pts/ptmx: %w", err)
	}
	// The descriptor outlives f: Fd's finalizer must not close it.
	master, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(master)
	return master, nil
}

// ptyPeer opens the slave of a pty master through the master.
func ptyPeer(master int) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER,
		uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// bindConsoleDevice binds the pty slave onto /dev/console, which is created
// as an empty file if missing and must be a plain file or a device node,
// never a symlink or anything else.
func bindConsoleDevice(root, slave int) error {
	dev, err := mkdirInRoot(root, "/dev")
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	f, err := unix.Openat(dev, "console", unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err == nil {
		unix.Close(f)
	} else if err != unix.EEXIST {
		return err
	}
	target, err := openat2(dev, "console", unix.O_PATH|unix.O_NOFOLLOW,
		unix.RESOLVE_BENEATH|unix.RESOLVE_NO_SYMLINKS|unix.RESOLVE_NO_MAGICLINKS)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	var st unix.Stat_t
	if err := unix.Fstat(target, &st); err != nil {
		return err
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFCHR {
		return fmt.Errorf("/dev/console is neither a file nor a device (mode %#o)", st.Mode)
	}
	mnt, err := bindTree(slave, target, false, 0, 0, 0)
	if err == nil {
		unix.Close(mnt)
	}
	return err
}

// RecvConsole reads the pty master that a stage sent over sock. A
// non-blocking sock (one the poller watches) is waited on through it, so
// its deadline bounds the wait.
func RecvConsole(sock *os.File) (*os.File, error) {
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4))
	rc, err := sock.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	var n, oobn int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive pty master: bad control message: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("receive pty master: %v", err)
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

// NewConsoleSocketPair returns the two ends of the socket a stage sends its
// pty master over: pass the second to CreateOpts/ExecOpts.ConsoleSocket and
// call RecvConsole on the first.
func NewConsoleSocketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "console-parent"), os.NewFile(uintptr(fds[1]), "console-child"), nil
}
