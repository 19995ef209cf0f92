package portproxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// dialTimeout bounds the connection to a container that does not answer.
const dialTimeout = 5 * time.Second

// refusedWait bounds how long a connection the proxy has accepted waits
// for the container's server to listen: published ports are in place
// when the container's process starts, before its server binds, and a
// client connected to the proxy would otherwise be reset (the container
// refusing it) where, without the proxy, it would have been refused at
// connect. The first retry comes soon, then less often.
const (
	refusedWait       = 2 * time.Second
	refusedRetryFirst = 10 * time.Millisecond
	refusedRetryMax   = 200 * time.Millisecond
)

// udpIdle is how long a UDP flow stays open without traffic (docker-proxy
// uses 90 seconds as well).
const udpIdle = 90 * time.Second

// proxy is a running forwarder; Close stops it and every flow it holds.
type proxy struct {
	mu     sync.Mutex
	closed bool
	sock   io.Closer
	flows  map[io.Closer]struct{}
	wg     sync.WaitGroup
	// done is closed by Close: a dial waiting to retry gives up.
	done chan struct{}
}

func newProxy(sock io.Closer) *proxy {
	return &proxy{sock: sock, flows: map[io.Closer]struct{}{}, done: make(chan struct{})}
}

func (p *proxy) track(c io.Closer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.flows[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c io.Closer) {
	p.mu.Lock()
	delete(p.flows, c)
	p.mu.Unlock()
	c.Close()
}

func (p *proxy) Close() error {
	p.mu.Lock()
	if !p.closed {
		close(p.done)
	}
	p.closed = true
	err := p.sock.Close()
	for c := range p.flows {
		c.Close()
	}
	p.flows = nil
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// TCP accepts connections on l and joins each to a new connection to
// target. The returned Closer closes l and every open connection.
func TCP(l net.Listener, target netip.AddrPort) io.Closer {
	p := newProxy(l)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.joinTCP(c, target)
			}()
		}
	}()
	return p
}

func (p *proxy) joinTCP(in net.Conn, target netip.AddrPort) {
	if !p.track(in) {
		return
	}
	defer p.untrack(in)
	out, err := p.dialTCP(target)
	if err != nil {
		logrus.WithError(err).WithField("target", target).Debug("port proxy: cannot reach the container")
		return
	}
	if !p.track(out) {
		return
	}
	defer p.untrack(out)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Half-close, so that a client that shuts down its side still
		// gets the rest of the answer.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

// dialTCP connects to the container, retrying while it refuses for up to
// refusedWait (see there) or until the proxy closes.
func (p *proxy) dialTCP(target netip.AddrPort) (net.Conn, error) {
	deadline := time.Now().Add(refusedWait)
	wait := refusedRetryFirst
	for {
		c, err := net.DialTimeout("tcp", target.String(), dialTimeout)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().Add(wait).After(deadline) {
			return c, err
		}
		select {
		case <-p.done:
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, refusedRetryMax)
	}
}

// UDP relays datagrams received on c to target, with one socket per
// client address so that replies find their way back. The returned
// Closer closes c and every flow.
func UDP(c net.PacketConn, target netip.AddrPort) io.Closer {
	p := newProxy(c)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		flows := map[string]*net.UDPConn{}
		var fmu sync.Mutex
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			key := from.String()
			fmu.Lock()
			out := flows[key]
			fmu.Unlock()
			if out == nil {
				out, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
				if err != nil || !p.track(out) {
					continue
				}
				fmu.Lock()
				flows[key] = out
				fmu.Unlock()
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					defer func() {
						fmu.Lock()
						delete(flows, key)
						fmu.Unlock()
						p.untrack(out)
					}()
					rb := make([]byte, 65535)
					for {
						out.SetReadDeadline(time.Now().Add(udpIdle))
						m, err := out.Read(rb)
						if err != nil {
							return
						}
						if _, err := c.WriteTo(rb[:m], from); err != nil {
							return
						}
					}
				}()
			}
			out.Write(buf[:n])
		}
	}()
	return p
}
