package network

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/network/bridge"
	"github.com/berthd/berth/network/firewall"
	"github.com/berthd/berth/network/internal/nettest"
	"github.com/berthd/berth/network/resolvconf"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

func freeSubnet(t *testing.T) netip.Prefix {
	for i := 0; i < 50; i++ {
		p := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(50), rand.IntN(256)))
		if !bridge.HostConflict(p) {
			return p
		}
	}
	t.Fatal("no free subnet")
	return netip.Prefix{}
}

func newManager(t *testing.T, root string, iptables bool) (*Manager, Config) {
	t.Helper()
	nettest.RequireRoot(t)
	cfg := Config{
		Root: root, EngineID: "test-engine", DefaultBridge: nettest.Name("btm"),
		BridgeIP: netip.PrefixFrom(freeSubnet(t).Addr().Next(), 24).String(),
		IPTables: iptables, IPMasq: true, ICC: true, UserlandProxy: false,
		Table: nettest.Name("berthtest"),
	}
	nettest.CleanupLink(t, cfg.DefaultBridge)
	t.Cleanup(func() { firewall.DeleteTable(cfg.Table) })
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, cfg
}

func createNet(t *testing.T, m *Manager, name string, sub netip.Prefix) *Record {
	t.Helper()
	r, err := m.Create(context.Background(), network.CreateRequest{Name: name, IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: sub}}}})
	if err != nil {
		t.Fatal(err)
	}
	nettest.CleanupLink(t, r.Bridge)
	return r
}

func TestManagerEndToEnd(t *testing.T) {
	busybox := nettest.RequireTool(t, "busybox", "busybox-static")
	nettest.RequireTool(t, "nft", "nftables")
	ctx := context.Background()
	root := t.TempDir()
	m, cfg := newManager(t, root, true)
	before := nettest.Ruleset(t, cfg.Table)
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if !bridge.Exists(cfg.DefaultBridge) {
		t.Fatal("default bridge not created")
	}

	a := createNet(t, m, "front", freeSubnet(t))
	b := createNet(t, m, "back", freeSubnet(t))
	nsWeb, nsCli, nsOther := nettest.NewNetns(t), nettest.NewNetns(t), nettest.NewNetns(t)
	web, err := m.Join(ctx, "front", JoinOptions{ContainerID: strings.Repeat("a", 64), Name: "web", Aliases: []string{"www"}, NetnsPath: nsWeb.Path})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := m.Join(ctx, "front", JoinOptions{ContainerID: strings.Repeat("b", 64), Name: "cli", NetnsPath: nsCli.Path})
	if err != nil {
		t.Fatal(err)
	}
	static := nthAddr(m.ipam.Subnets(b.ID)[0].Prefix, 50)
	other, err := m.Join(ctx, b.ID[:12], JoinOptions{ContainerID: strings.Repeat("c", 64), Name: "other", IPv4: static, NetnsPath: nsOther.Path})
	if err != nil {
		t.Fatal(err)
	}
	if other.IPv4.Addr() != static || len(other.MAC) != 6 || other.MAC[0]&0x03 != 0x02 {
		t.Fatalf("static endpoint %+v", other)
	}
	if _, err := m.Join(ctx, "back", JoinOptions{ContainerID: strings.Repeat("d", 64), Name: "dup", IPv4: static, NetnsPath: nettest.NewNetns(t).Path}); err == nil {
		t.Fatal("static address given twice")
	}

	// Same network reaches; different networks do not.
	if out, err := nsCli.Exec(busybox, "ping", "-c", "1", "-W", "2", web.IPv4.Addr().String()); err != nil {
		t.Fatalf("cli → web: %v %s", err, out)
	}
	if _, err := nsCli.Exec(busybox, "ping", "-c", "1", "-W", "1", other.IPv4.Addr().String()); err == nil {
		t.Fatal("front reached back")
	}

	// Inspect shows the containers; dangling filters see them.
	got, _ := m.Find(ctx, "front")
	if c := got.Containers(); len(c) != 2 || c[web.ContainerID].Name != "web" {
		t.Fatalf("containers: %+v", c)
	}
	dangling, _ := m.List(ctx, filters.NewArgs([2]string{"dangling", "true"}))
	for _, r := range dangling {
		if r.Name == "front" {
			t.Fatal("network with endpoints listed as dangling")
		}
	}
	if _, err := m.Remove(ctx, "front"); !errdefs.Is(err, errdefs.Forbidden) {
		t.Fatalf("remove in use: %v", err)
	}

	// Embedded DNS inside the client's namespace resolves names and aliases
	// on its networks only.
	if err := m.StartDNS(cli.ContainerID, nsCli.Path, resolvconf.Result{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.StopDNS(cli.ContainerID) })
	for _, name := range []string{"web", "www", "web.", strings.Repeat("a", 12)} {
		if got := m.Resolve(cli.ContainerID, name); len(got) != 1 || got[0] != web.IPv4.Addr() {
			t.Fatalf("Resolve(%s) = %v", name, got)
		}
	}
	if got := m.Resolve(cli.ContainerID, "other"); len(got) != 0 {
		t.Fatalf("resolved a container on another network: %v", got)
	}
	out, err := nsCli.Exec(busybox, "nslookup", "web", "127.0.0.11")
	if err != nil || !strings.Contains(out, web.IPv4.Addr().String()) {
		t.Fatalf("nslookup web in the namespace: %v\n%s", err, out)
	}

	// A published port answers on the host's loopback.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("published\n"), 0o644)
	srv := exec.Command("ip", "netns", "exec", nsWeb.Name, busybox, "httpd", "-f", "-p", "80", "-h", dir)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	binds, err := m.Publish(ctx, "front", web.ContainerID, []PortSpec{{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), ContainerPort: 80}})
	if err != nil {
		t.Fatal(err)
	}
	if binds[0].HostPort == 0 {
		t.Fatal("no ephemeral port")
	}
	if _, err := m.Publish(ctx, "front", cli.ContainerID, []PortSpec{{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: binds[0].HostPort, ContainerPort: 80}}); err == nil || !strings.Contains(err.Error(), "port is already allocated") {
		t.Fatalf("port conflict: %v", err)
	}
	if err := waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/", binds[0].HostPort), "published"); err != nil {
		t.Fatal(err)
	}
	if err := m.Unpublish(ctx, web.ContainerID); err != nil {
		t.Fatal(err)
	}

	// Restart: a new manager on the same root keeps networks and addresses.
	m2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	r2, err := m2.Find(ctx, "back")
	if err != nil || r2.Endpoints[other.ID] == nil || r2.Endpoints[other.ID].IPv4 != other.IPv4 {
		t.Fatalf("after restart: %v %+v", err, r2)
	}

	// Teardown leaves nothing.
	for _, l := range []struct{ net, id string }{{"front", web.ContainerID}, {"back", other.ContainerID}} {
		if err := m2.Leave(ctx, l.net, l.id); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ { // repeatable
		if err := m2.LeaveAll(ctx, cli.ContainerID); err != nil {
			t.Fatal(err)
		}
	}
	// Leave deletes the veth pairs in the background.
	m2.WaitDetached()
	if _, err := nsCli.Exec("ip", "link", "show", "eth0"); err == nil {
		t.Fatal("eth0 left after Leave")
	}
	for _, n := range []string{"front", "back"} {
		if _, err := m2.Remove(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if bridge.Exists(a.Bridge) || bridge.Exists(b.Bridge) {
		t.Fatal("bridges left")
	}
	m2.Close(false)
	if after := nettest.Ruleset(t, cfg.Table); after != before {
		t.Fatalf("ruleset changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for ; n > 0; n-- {
		a = a.Next()
	}
	return a
}

func TestModes(t *testing.T) {
	for in, want := range map[string]Mode{
		"":              {Kind: "bridge", Network: "bridge"},
		"default":       {Kind: "bridge", Network: "bridge"},
		"host":          {Kind: "host"},
		"none":          {Kind: "none"},
		"container:abc": {Kind: "container", Container: "abc"},
		"mynet":         {Kind: "bridge", Network: "mynet"},
	} {
		if got := ParseMode(in); got != want {
			t.Errorf("ParseMode(%q) = %+v", in, got)
		}
	}
	if ParseMode("host").NewNamespace() || ParseMode("container:x").NewNamespace() || !ParseMode("none").NewNamespace() {
		t.Error("NewNamespace")
	}
	nettest.RequireRoot(t)
	ns := nettest.NewNetns(t)
	m := &Manager{}
	if _, err := m.AttacherFor(ParseMode("none")).Attach(context.Background(), ns.Path, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _ := ns.Exec("ip", "-o", "link")
	if !strings.Contains(out, "lo:") || !strings.Contains(out, "UP") || strings.Count(out, "\n") != 0 {
		t.Fatalf("none mode: %s", out)
	}
}

func TestValidateIPAMConfigMessages(t *testing.T) {
	cfg := []network.IPAMConfig{{
		Subnet:  netip.MustParsePrefix("10.1.0.5/16"),
		IPRange: netip.MustParsePrefix("10.2.0.0/24"),
		Gateway: netip.MustParseAddr("fd00::1"),
	}}
	err := ValidateIPAMConfig(cfg, false)
	want := "invalid network config:\n* invalid subnet 10.1.0.5/16: it should be 10.1.0.0/16\n* invalid ip-range 10.2.0.0/24: parent subnet 10.1.0.5/16 doesn't contain ip-range\n* invalid gateway fd00::1: parent subnet is an IPv4 block"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	// IPv6 config on a network without IPv6 is not checked, as dockerd.
	if err := ValidateIPAMConfig([]network.IPAMConfig{{Subnet: netip.MustParsePrefix("fd00::1/64")}}, false); err != nil {
		t.Fatal(err)
	}
}
