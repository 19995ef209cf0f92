package shim

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The shim's sockets (its control socket, the console socket of an
// external runtime) are Unix stream sockets on x/sys/unix and the
// runtime's poller through os.File, not package net. Package net is
// initialised after nearly every other package of berthd (its
// dependencies sort last), and the shim takes over from this package's
// initialisation (entry_linux.go): importing net here would make every
// shim initialise, and keep on its heap for its whole life, berthd's
// image, registry and HTTP packages first.

// unixListener is a listening Unix stream socket that unlinks its path
// when closed, as net.UnixListener does.
type unixListener struct {
	f    *os.File
	path string
}

func listenUnix(path string) (*unixListener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "socket", Path: path, Err: err}
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "bind", Path: path, Err: err}
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		_ = os.Remove(path)
		return nil, &os.PathError{Op: "listen", Path: path, Err: err}
	}
	// A non-blocking descriptor makes os.File use the poller: Accept
	// parks the goroutine, Close and deadlines wake it.
	return &unixListener{f: os.NewFile(uintptr(fd), path), path: path}, nil
}

// Accept waits for the next connection.
func (l *unixListener) Accept() (*unixConn, error) {
	rc, err := l.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if aerr != unix.EINTR && aerr != unix.ECONNABORTED {
				return aerr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if aerr != nil {
		return nil, &os.PathError{Op: "accept", Path: l.path, Err: aerr}
	}
	return &unixConn{os.NewFile(uintptr(nfd), l.path)}, nil
}

// SetDeadline bounds the wait of Accept.
func (l *unixListener) SetDeadline(t time.Time) error { return l.f.SetDeadline(t) }

// Close stops accepting and removes the socket's path.
func (l *unixListener) Close() error {
	err := l.f.Close()
	_ = os.Remove(l.path)
	return err
}

// unixConn is one connected Unix stream socket. Read and Write park on
// the poller; deadlines work as on any pollable os.File.
type unixConn struct{ *os.File }

// dialUnix connects to the socket at path. A Unix connect either succeeds
// at once or, with the listener's backlog full, reports EAGAIN: then it is
// retried until ctx ends.
func dialUnix(ctx context.Context, path string) (*unixConn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "socket", Path: path, Err: err}
	}
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EAGAIN && err != unix.EINTR {
			break
		}
		select {
		case <-ctx.Done():
			unix.Close(fd)
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "dial", Path: path, Err: err}
	}
	return &unixConn{os.NewFile(uintptr(fd), path)}, nil
}

// CloseWrite shuts down the sending side: the peer reads EOF.
func (c *unixConn) CloseWrite() error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "shutdown", Path: c.Name(), Err: serr}
	}
	return nil
}

// peerClosed reports whether the connection is shut in both directions
// (POLLHUP), as when the peer has closed it, rather than only half-closed
// its sending side. Call it once a read has returned EOF.
func (c *unixConn) peerClosed() bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	hup := false
	_ = rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, 0)
			if err != unix.EINTR {
				break
			}
		}
		hup = fds[0].Revents&unix.POLLHUP != 0
	})
	return hup
}
