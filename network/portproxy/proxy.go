package portproxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// dialTimeout bounds the connection to a container that does not answer.
const dialTimeout = 5 * time.Second

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
	p := &proxy{sock: l, flows: map[io.Closer]struct{}{}}
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
	out, err := net.DialTimeout("tcp", target.String(), dialTimeout)
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

// UDP relays datagrams received on c to target, with one socket per
// client address so that replies find their way back. The returned
// Closer closes c and every flow.
func UDP(c net.PacketConn, target netip.AddrPort) io.Closer {
	p := &proxy{sock: c, flows: map[io.Closer]struct{}{}}
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
