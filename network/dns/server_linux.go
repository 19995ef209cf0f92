package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/sirupsen/logrus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Address is where the server listens inside the container.
const Address = "127.0.0.11:53"

// ttl is what dockerd gives container records.
const ttl = 600

// forwardTimeout bounds one upstream attempt.
const forwardTimeout = 2 * time.Second

// Config says what a server answers.
type Config struct {
	// Lookup returns the addresses of a container name or alias, as seen
	// from this container's networks; nil when the name is not local.
	Lookup func(name string) []netip.Addr
	// Upstreams receive every query Lookup does not answer, in order.
	Upstreams []netip.AddrPort
	// Forward, when set, is asked before each forward: false answers
	// SERVFAIL instead. A container only on internal networks must not
	// reach outside resolvers through the daemon, which forwards from
	// the host's namespace (CVE-2024-29018).
	Forward func() bool
}

// Server is one container's embedded DNS server.
type Server struct {
	cfg  Config
	udp  *mdns.Server
	tcp  *mdns.Server
	wg   sync.WaitGroup
	once sync.Once
}

// Start opens the server's sockets inside the namespace at netnsPath and
// serves them until Close.
func Start(netnsPath string, cfg Config) (*Server, error) {
	pc, l, err := listenIn(netnsPath, Address)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg}
	h := mdns.HandlerFunc(s.serve)
	s.udp = &mdns.Server{PacketConn: pc, Handler: h}
	s.tcp = &mdns.Server{Listener: l, Handler: h}
	for _, srv := range []*mdns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.wg.Add(1)
		go func(srv *mdns.Server) {
			defer s.wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				logrus.WithError(err).Debug("embedded DNS server stopped")
			}
		}(srv)
		<-started
	}
	return s, nil
}

// listenIn creates the UDP and TCP sockets inside the namespace. The
// thread is moved into the namespace and back; sockets keep the namespace
// they were made in. If moving back fails the thread stays locked, so the
// Go runtime retires it instead of reusing a thread in the wrong namespace.
func listenIn(netnsPath, addr string) (net.PacketConn, net.Listener, error) {
	target, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", netnsPath, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, nil, err
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return nil, nil, fmt.Errorf("enter %s: %w", netnsPath, err)
	}
	pc, l, lerr := func() (net.PacketConn, net.Listener, error) {
		// 127.0.0.11 needs lo up, which a fresh namespace does not have.
		if lo, err := netlink.LinkByName("lo"); err == nil {
			netlink.LinkSetUp(lo)
		}
		pc, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			pc.Close()
			return nil, nil, err
		}
		return pc, l, nil
	}()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it dies with this goroutine.
		if pc != nil {
			pc.Close()
			l.Close()
		}
		return nil, nil, fmt.Errorf("return to the daemon's namespace: %w", err)
	}
	runtime.UnlockOSThread()
	if lerr != nil {
		return nil, nil, fmt.Errorf("listen on %s in %s: %w", addr, netnsPath, lerr)
	}
	return pc, l, nil
}

// Close stops the server and closes its sockets.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = errors.Join(s.udp.ShutdownContext(ctx), s.tcp.ShutdownContext(ctx))
		s.wg.Wait()
	})
	return err
}

func (s *Server) serve(w mdns.ResponseWriter, q *mdns.Msg) {
	if len(q.Question) != 1 {
		m := new(mdns.Msg)
		m.SetRcode(q, mdns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	qq := q.Question[0]
	if qq.Qclass == mdns.ClassINET && (qq.Qtype == mdns.TypeA || qq.Qtype == mdns.TypeAAAA) && s.cfg.Lookup != nil {
		name := strings.ToLower(strings.TrimSuffix(qq.Name, "."))
		if addrs := s.cfg.Lookup(name); len(addrs) > 0 {
			m := new(mdns.Msg)
			m.SetReply(q)
			m.Authoritative = true
			m.RecursionAvailable = true
			for _, a := range addrs {
				hdr := mdns.RR_Header{Name: qq.Name, Class: mdns.ClassINET, Ttl: ttl}
				switch {
				case qq.Qtype == mdns.TypeA && a.Is4():
					hdr.Rrtype = mdns.TypeA
					m.Answer = append(m.Answer, &mdns.A{Hdr: hdr, A: a.AsSlice()})
				case qq.Qtype == mdns.TypeAAAA && a.Is6():
					hdr.Rrtype = mdns.TypeAAAA
					m.Answer = append(m.Answer, &mdns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
				}
			}
			w.WriteMsg(m)
			return
		}
	}
	w.WriteMsg(s.forward(w, q))
}

// forward asks each upstream in turn over the transport the client used
// (TCP when it came over TCP, so large answers survive).
func (s *Server) forward(w mdns.ResponseWriter, q *mdns.Msg) *mdns.Msg {
	if s.cfg.Forward != nil && !s.cfg.Forward() {
		m := new(mdns.Msg)
		m.SetRcode(q, mdns.RcodeServerFailure)
		return m
	}
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	c := &mdns.Client{Net: proto, Timeout: forwardTimeout}
	for _, up := range s.cfg.Upstreams {
		r, _, err := c.Exchange(q, up.String())
		if err != nil {
			continue
		}
		// A truncated UDP answer is passed on as is: the client then
		// retries over TCP, which is forwarded over TCP.
		r.Id = q.Id
		return r
	}
	m := new(mdns.Msg)
	m.SetRcode(q, mdns.RcodeServerFailure)
	return m
}
