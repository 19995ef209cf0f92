package hangup

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Watch calls fn once the peer of conn has closed the connection (the
// socket reports EPOLLHUP: the peer is gone, or both directions are shut).
// A peer that only half-closes, as the docker CLI does when its stdin
// ends, is not a hang-up. stop ends the watch and may be called more than
// once; once it has returned, fn is not running and will not run. A
// connection that is not a socket is never reported.
func Watch(conn net.Conn, fn func()) (stop func()) {
	noop := func() {}
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return noop
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return noop
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return noop
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ep)
		return noop
	}
	var addErr error
	// The registration refers to the socket's open file, not its number,
	// so it stays right after conn is closed (and then simply never fires).
	if err := rc.Control(func(fd uintptr) {
		addErr = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(fd), &unix.EpollEvent{Events: unix.EPOLLHUP, Fd: int32(fd)})
	}); err != nil || addErr != nil {
		unix.Close(ep)
		unix.Close(efd)
		return noop
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}); err != nil {
		unix.Close(ep)
		unix.Close(efd)
		return noop
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unix.Close(ep)
		events := make([]unix.EpollEvent, 2)
		for {
			n, err := unix.EpollWait(ep, events, -1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return
			}
			for _, e := range events[:n] {
				if e.Fd == int32(efd) {
					return
				}
			}
			fn()
			return
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			one := [8]byte{1}
			unix.Write(efd, one[:])
			<-done
			unix.Close(efd)
		})
	}
}
