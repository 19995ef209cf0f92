package dns

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/berthd/berth/network/internal/nettest"
)

// nsUpstream is a resolver on the loopback of the namespace at path,
// which the host's namespace cannot reach: a --dns server that lives on
// one of the container's networks stands in the same place.
func nsUpstream(t *testing.T, path string) netip.AddrPort {
	t.Helper()
	target, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	var pc net.PacketConn
	var lerr error
	if err := inNamespace(target, func() {
		if lo, err := netlink.LinkByName("lo"); err == nil {
			netlink.LinkSetUp(lo)
		}
		pc, lerr = net.ListenPacket("udp4", "127.0.0.1:0")
	}); err != nil || lerr != nil {
		t.Fatal(err, lerr)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "inside.example." {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: net.IPv4(192, 0, 2, 42)})
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// A --dns upstream is asked from the container's namespace, also when the
// container is only on internal networks; the host's upstreams are then
// skipped.
func TestServerForwardsFromContainerNamespace(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNetns(t)
	inside := nsUpstream(t, ns.Path)
	host := upstream(t)
	srv, err := Start(ns.Path, Config{
		Upstreams: []Upstream{{AddrPort: host}, {AddrPort: inside, InContainer: true}},
		Forward:   func() bool { return false },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r := queryFrom(t, ns, "udp", "inside.example", mdns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "192.0.2.42" {
		t.Fatalf("query for the in-namespace server: %v", r)
	}
	// outside.example is only known to the host's upstream, which an
	// internal-only container must not reach.
	if r := queryFrom(t, ns, "udp", "outside.example", mdns.TypeA); len(r.Answer) != 0 {
		t.Fatalf("the host's upstream answered an internal-only container: %v", r)
	}
}

// A SERVFAIL from one upstream moves on to the next.
func TestServerSkipsFailingUpstream(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNetns(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	failing := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetRcode(q, mdns.RcodeServerFailure)
		w.WriteMsg(m)
	})}
	go failing.ActivateAndServe()
	t.Cleanup(func() { failing.Shutdown() })
	srv, err := Start(ns.Path, Config{Upstreams: []Upstream{
		{AddrPort: netip.MustParseAddrPort(pc.LocalAddr().String())}, {AddrPort: upstream(t)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if r := queryFrom(t, ns, "udp", "outside.example", mdns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("second upstream not asked after a SERVFAIL: %v", r)
	}
}

// With ndots chosen by the user, single-label names the server does not
// know are answered empty rather than forwarded.
func TestServerNdotsSetKeepsSingleLabels(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNetns(t)
	var asked atomic.Bool
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		asked.Store(true)
		m := new(mdns.Msg)
		m.SetRcode(q, mdns.RcodeNameError)
		w.WriteMsg(m)
	})}
	go up.ActivateAndServe()
	t.Cleanup(func() { up.Shutdown() })
	srv, err := Start(ns.Path, Config{NdotsSet: true, Upstreams: []Upstream{{AddrPort: netip.MustParseAddrPort(pc.LocalAddr().String())}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r := queryFrom(t, ns, "udp", "single", mdns.TypeA)
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || asked.Load() {
		t.Fatalf("single-label name with ndots set: %v (forwarded: %v)", r, asked.Load())
	}
}
