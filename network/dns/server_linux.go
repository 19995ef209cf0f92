package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
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

// Upstream is a server queries are forwarded to.
type Upstream struct {
	netip.AddrPort
	// InContainer sends the query from the container's namespace, as
	// dockerd does for --dns servers: they may sit on one of the
	// container's networks, an internal one too. Otherwise it leaves from
	// the host's namespace, where a host-loopback stub is reachable.
	InContainer bool
}

// Config says what a server answers.
type Config struct {
	// Lookup returns the addresses of a container name or alias, as seen
	// from this container's networks; nil when the name is not local.
	Lookup func(name string) []netip.Addr
	// Upstreams receive every query Lookup does not answer, in order.
	Upstreams []Upstream
	// Forward, when set, is asked before each forward from the host's
	// namespace: false skips those upstreams (SERVFAIL when none is
	// left). A container only on internal networks must not reach
	// outside resolvers through the daemon (CVE-2024-29018); from its
	// own namespace it reaches what its networks reach, no more.
	Forward func() bool
	// NdotsSet keeps single-label A and AAAA names that Lookup does not
	// know from the upstreams: they get an empty answer, so the client
	// goes on with its search domains (the user chose ndots, dockerd's
	// rule).
	NdotsSet bool
}

// Server is one container's embedded DNS server.
type Server struct {
	cfg  Config
	ns   netns.NsHandle // the container's namespace, for InContainer upstreams
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
	s := &Server{cfg: cfg, ns: netns.None()}
	if slices.ContainsFunc(cfg.Upstreams, func(u Upstream) bool { return u.InContainer }) {
		if s.ns, err = netns.GetFromPath(netnsPath); err != nil {
			pc.Close()
			l.Close()
			return nil, fmt.Errorf("open %s: %w", netnsPath, err)
		}
	}
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
		if s.ns.IsOpen() {
			s.ns.Close()
		}
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
	if qq.Qclass == mdns.ClassINET && (qq.Qtype == mdns.TypeA || qq.Qtype == mdns.TypeAAAA) {
		name := strings.ToLower(strings.TrimSuffix(qq.Name, "."))
		var addrs []netip.Addr
		if s.cfg.Lookup != nil {
			addrs = s.cfg.Lookup(name)
		}
		if len(addrs) > 0 {
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
		if s.cfg.NdotsSet && !strings.Contains(name, ".") {
			m := new(mdns.Msg)
			m.SetReply(q)
			m.RecursionAvailable = true
			w.WriteMsg(m)
			return
		}
	}
	w.WriteMsg(s.forward(w, q))
}

// forward asks each upstream in turn over the transport the client used
// (TCP when it came over TCP, so large answers survive). A SERVFAIL or REFUSED answer moves on to the next upstream, as dockerd
// does; the last one is passed on when no upstream does better.
func (s *Server) forward(w mdns.ResponseWriter, q *mdns.Msg) *mdns.Msg {
	hostOK := s.cfg.Forward == nil || s.cfg.Forward()
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	c := &mdns.Client{Net: proto, Timeout: forwardTimeout, UDPSize: mdns.MaxMsgSize}
	var failed *mdns.Msg
	for _, up := range s.cfg.Upstreams {
		if !up.InContainer && !hostOK {
			continue
		}
		conn, err := s.dial(proto, up)
		if err != nil {
			logrus.WithError(err).WithField("upstream", up.String()).Debug("embedded DNS: cannot reach upstream")
			continue
		}
		r, _, err := c.ExchangeWithConn(q, &mdns.Conn{Conn: conn, UDPSize: mdns.MaxMsgSize})
		conn.Close()
		if err != nil {
			continue
		}
		// A truncated UDP answer is passed on as is: the client then
		// retries over TCP, which is forwarded over TCP.
		r.Id = q.Id
		if r.Rcode == mdns.RcodeServerFailure || r.Rcode == mdns.RcodeRefused {
			failed = r
			continue
		}
		return r
	}
	if failed != nil {
		return failed
	}
	m := new(mdns.Msg)
	m.SetRcode(q, mdns.RcodeServerFailure)
	return m
}

// dial connects to an upstream from the namespace it is to be asked from.
func (s *Server) dial(proto string, up Upstream) (net.Conn, error) {
	addr := up.AddrPort.String()
	if !up.InContainer || !s.ns.IsOpen() {
		return net.DialTimeout(proto, addr, forwardTimeout)
	}
	var conn net.Conn
	var dialErr error
	err := inNamespace(s.ns, func() {
		conn, dialErr = net.DialTimeout(proto, addr, forwardTimeout)
	})
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, err
	}
	return conn, dialErr
}

// inNamespace runs fn on a thread moved into ns, in a goroutine of its
// own: a socket fn opens belongs to ns for good. If the thread cannot be
// moved back it stays locked, and the Go runtime retires it with the
// goroutine instead of reusing a thread in the wrong namespace.
func inNamespace(ns netns.NsHandle, fn func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter the container's namespace: %w", err)
			return
		}
		fn()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("return to the daemon's namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	return <-errc
}
