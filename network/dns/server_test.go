package dns

import (
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/vishvananda/netns"

	"github.com/berthd/berth/network/internal/nettest"
)

// upstream is a fake "host resolver" on the host's loopback.
func upstream(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "outside.example." && q.Question[0].Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: net.IPv4(192, 0, 2, 7)})
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// queryFrom sends one query from inside the namespace, as a container
// process would.
func queryFrom(t *testing.T, ns nettest.Netns, proto, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	target, err := netns.GetFromPath(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, _ := netns.Get()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	conn, dialErr := net.DialTimeout(proto, Address, 2*time.Second)
	if err := netns.Set(orig); err != nil {
		t.Fatalf("cannot return to the test's namespace: %v", err) // thread stays locked and dies
	}
	orig.Close()
	runtime.UnlockOSThread()
	if dialErr != nil {
		t.Fatal(dialErr)
	}
	co := &mdns.Conn{Conn: conn}
	defer co.Close()
	co.SetDeadline(time.Now().Add(5 * time.Second))
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(name), qtype)
	if err := co.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	r, err := co.ReadMsg()
	if err != nil {
		t.Fatalf("query %s over %s: %v", name, proto, err)
	}
	return r
}

func TestServerAnswersNamesAndForwards(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNetns(t)
	up := upstream(t)
	srv, err := Start(ns.Path, Config{
		Lookup: func(name string) []netip.Addr {
			switch name {
			case "web", "web-alias":
				return []netip.Addr{netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("fd77::2")}
			}
			return nil
		},
		Upstreams: []Upstream{{AddrPort: up}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	for _, proto := range []string{"udp", "tcp"} {
		r := queryFrom(t, ns, proto, "web", mdns.TypeA)
		if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "10.77.0.2" {
			t.Fatalf("%s A web: %v", proto, r)
		}
	}
	r := queryFrom(t, ns, "udp", "WEB-alias", mdns.TypeAAAA)
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.AAAA).AAAA.String() != "fd77::2" {
		t.Fatalf("AAAA alias: %v", r)
	}
	r = queryFrom(t, ns, "udp", "outside.example", mdns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "192.0.2.7" {
		t.Fatalf("forwarded: %v", r)
	}
	r = queryFrom(t, ns, "udp", "missing.example", mdns.TypeA)
	if r.Rcode != mdns.RcodeNameError {
		t.Fatalf("NXDOMAIN from upstream not passed on: %v", r)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// The namespace's port 53 is free again.
	srv2, err := Start(ns.Path, Config{})
	if err != nil {
		t.Fatalf("restart on the same namespace: %v", err)
	}
	r = queryFrom(t, ns, "udp", "web", mdns.TypeA)
	if r.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("no upstreams should SERVFAIL: %v", r)
	}
	srv2.Close()
}

// A server whose container is only on internal networks must not forward
// (CVE-2024-29018), and must again once Forward says so.
func TestServerForwardGate(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNetns(t)
	up := upstream(t)
	var allow atomic.Bool
	srv, err := Start(ns.Path, Config{
		Lookup:    func(name string) []netip.Addr { return nil },
		Upstreams: []Upstream{{AddrPort: up}},
		Forward:   allow.Load,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if r := queryFrom(t, ns, "udp", "outside.example", mdns.TypeA); r.Rcode != mdns.RcodeServerFailure || len(r.Answer) != 0 {
		t.Fatalf("internal-only container's query was forwarded: %v", r)
	}
	allow.Store(true)
	if r := queryFrom(t, ns, "udp", "outside.example", mdns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("forwarding not restored: %v", r)
	}
}
