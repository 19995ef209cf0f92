package nsdial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	netnsthread "github.com/berthd/berth/pkg/netns"
)

// Dial connects to address (host:port) on network ("tcp", "tcp4",
// "tcp6", "udp", "udp4" or "udp6") from inside the network namespace at
// netnsPath (e.g. /proc/PID/ns/net or a bind mount under /run/netns).
// A host name is resolved by the caller's resolver, in the caller's
// namespace; "localhost" and IP literals are what port forwarding uses.
// Each address is tried in turn until one connects or ctx ends.
func Dial(ctx context.Context, netnsPath, network, address string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, opError(network, address, err)
	}
	sotype, family, err := parseNetwork(network)
	if err != nil {
		return nil, opError(network, address, err)
	}
	ips, port, err := resolve(ctx, family, address)
	if err != nil {
		return nil, opError(network, address, err)
	}
	ns, err := os.Open(netnsPath)
	if err != nil {
		return nil, opError(network, address, err)
	}
	defer ns.Close()

	var first error
	for _, ip := range ips {
		c, err := dialIP(ctx, ns, sotype, ip, port)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, opError(network, address, first)
}

func opError(network, address string, err error) error {
	return &net.OpError{Op: "dial", Net: network, Addr: stringAddr(address), Err: err}
}

// stringAddr is a net.Addr for an address that did not resolve.
type stringAddr string

func (a stringAddr) Network() string { return "" }
func (a stringAddr) String() string  { return string(a) }

// parseNetwork returns the socket type and the address family a network
// allows (0: either).
func parseNetwork(network string) (sotype, family int, err error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		sotype = unix.SOCK_STREAM
	case "udp", "udp4", "udp6":
		sotype = unix.SOCK_DGRAM
	default:
		return 0, 0, net.UnknownNetworkError(network)
	}
	switch network[len(network)-1] {
	case '4':
		family = unix.AF_INET
	case '6':
		family = unix.AF_INET6
	}
	return sotype, family, nil
}

// resolve splits address and returns its IPs of family (0: any), IPv4
// first as the Go dialer prefers them.
func resolve(ctx context.Context, family int, address string) ([]net.IP, int, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, 0, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("invalid port %q", portStr)
	}
	var candidates []net.IP
	if ip := net.ParseIP(host); ip != nil {
		candidates = []net.IP{ip}
	} else {
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, 0, err
		}
		for _, a := range addrs {
			candidates = append(candidates, a.IP)
		}
	}
	var v4, v6 []net.IP
	for _, ip := range candidates {
		if ip4 := ip.To4(); ip4 != nil {
			if family != unix.AF_INET6 {
				v4 = append(v4, ip4)
			}
		} else if family != unix.AF_INET {
			v6 = append(v6, ip)
		}
	}
	ips := append(v4, v6...)
	if len(ips) == 0 {
		return nil, 0, errors.New("no suitable address")
	}
	return ips, int(port), nil
}

// dialIP creates the socket in ns and connects it to ip:port.
func dialIP(ctx context.Context, ns *os.File, sotype int, ip net.IP, port int) (net.Conn, error) {
	var sa unix.Sockaddr
	domain := unix.AF_INET
	if ip4 := ip.To4(); ip4 != nil {
		sa4 := &unix.SockaddrInet4{Port: port}
		copy(sa4.Addr[:], ip4)
		sa = sa4
	} else {
		domain = unix.AF_INET6
		sa6 := &unix.SockaddrInet6{Port: port}
		copy(sa6.Addr[:], ip.To16())
		sa = sa6
	}
	fd, err := socketIn(ns, domain, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// A non-blocking descriptor joins the runtime's poller, so the wait
	// for the connect parks a goroutine, not a thread.
	f := os.NewFile(uintptr(fd), "nsdial")
	defer f.Close() // FileConn holds its own duplicate
	if err := connect(ctx, f, fd, sa); err != nil {
		return nil, err
	}
	return net.FileConn(f)
}

// connect starts a non-blocking connect and waits for it within ctx.
func connect(ctx context.Context, f *os.File, fd int, sa unix.Sockaddr) error {
	err := unix.Connect(fd, sa)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, unix.EINPROGRESS) && !errors.Is(err, unix.EINTR):
		return os.NewSyscallError("connect", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		f.SetWriteDeadline(deadline)
	}
	// Cancelling ctx pulls the deadline in, which ends the wait.
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var connErr error
	err = rc.Write(func(fd uintptr) bool {
		soErr, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			connErr = os.NewSyscallError("getsockopt", err)
			return true
		case soErr != 0:
			if e := unix.Errno(soErr); e == unix.EINPROGRESS || e == unix.EALREADY || e == unix.EINTR {
				return false
			}
			connErr = os.NewSyscallError("connect", unix.Errno(soErr))
			return true
		}
		// No error yet: done only once the peer is known (the first call
		// comes before the socket is even writable).
		_, err = unix.Getpeername(int(fd))
		return err == nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The only deadline is ctx's, which the poller can see
			// pass a moment before ctx itself does.
			return context.DeadlineExceeded
		}
		return err
	}
	return connErr
}

// socketIn creates a socket inside the network namespace ns. (The
// package is imported as netnsthread: the tests have a type netns.)
func socketIn(ns *os.File, domain, typ int) (int, error) {
	fd := -1
	err := netnsthread.Do(ns, func() error {
		var err error
		if fd, err = unix.Socket(domain, typ, 0); err != nil {
			return os.NewSyscallError("socket", err)
		}
		return nil
	})
	if err != nil && fd >= 0 {
		// Made, but its thread could not go home: the socket is fine,
		// the error is not the caller's.
		return fd, nil
	}
	return fd, err
}
