package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/errdefs"
)

// fakeLinks stands in for the host's links, so that the parent
// bookkeeping is tested on kernels without 802.1q or dummy support.
type fakeLinks struct {
	links   map[string]bool
	made    []string
	deleted []string
	fail    error
}

func useFakeLinks(t *testing.T, existing ...string) *fakeLinks {
	f := &fakeLinks{links: map[string]bool{}}
	for _, l := range existing {
		f.links[l] = true
	}
	oc, oe, od, ox := checkParent, ensureParent, deleteParent, parentExists
	t.Cleanup(func() { checkParent, ensureParent, deleteParent, parentExists = oc, oe, od, ox })
	parseable := func(name string, dummy bool) error {
		if dummy || f.links[name] {
			return nil
		}
		lower, _, ok := strings.Cut(name, ".")
		if !ok {
			return fmt.Errorf("invalid subinterface vlan name %s, example formatting is eth0.10", name)
		}
		if !f.links[lower] {
			return fmt.Errorf("-o parent interface was not found on the host: %s", lower)
		}
		return nil
	}
	checkParent = parseable
	ensureParent = func(name string, dummy bool) (bool, error) {
		if f.links[name] {
			return false, nil
		}
		if err := parseable(name, dummy); err != nil {
			return false, err
		}
		if f.fail != nil {
			return false, f.fail
		}
		f.links[name] = true
		f.made = append(f.made, name)
		return true, nil
	}
	deleteParent = func(name string, dummy bool) error {
		delete(f.links, name)
		f.deleted = append(f.deleted, name)
		return nil
	}
	parentExists = func(name string) bool { return f.links[name] }
	return f
}

func isInvalid(err error) bool { return errdefs.Is(err, errdefs.InvalidParameter) }

func vlanReq(name, driver string, sub netip.Prefix, opts map[string]string) network.CreateRequest {
	req := network.CreateRequest{Name: name, Driver: driver, Options: opts}
	if sub.IsValid() {
		req.IPAM = &network.IPAM{Config: []network.IPAMConfig{{Subnet: sub}}}
	}
	return req
}

func TestVlanParentMadeSharedAndDeletedByLastNetwork(t *testing.T) {
	ctx := context.Background()
	f := useFakeLinks(t, "up0", "up0.20")
	m, _ := newManager(t, t.TempDir(), false)
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := m.Create(ctx, vlanReq("a", DriverMacvlan, freeSubnet(t), map[string]string{OptParent: "up0.10"}))
	if err != nil {
		t.Fatal(err)
	}
	if !a.ParentCreated || a.Parent != "up0.10" || a.Bridge != "" || strings.Join(f.made, ",") != "up0.10" {
		t.Fatalf("record %+v, made %v", a, f.made)
	}
	b, err := m.Create(ctx, vlanReq("b", DriverMacvlan, freeSubnet(t), map[string]string{OptParent: "up0.10", OptMacvlanMode: "private"}))
	if err != nil {
		t.Fatal(err)
	}
	if !b.ParentCreated {
		t.Fatal("a second network on berth's sub-interface does not know berth made it")
	}
	if _, err := m.Remove(ctx, "a"); err != nil || len(f.deleted) != 0 {
		t.Fatalf("remove a: %v, deleted %v", err, f.deleted)
	}
	if _, err := m.Remove(ctx, "b"); err != nil || strings.Join(f.deleted, ",") != "up0.10" {
		t.Fatalf("remove b: %v, deleted %v", err, f.deleted)
	}
	// The admin's own sub-interface stays.
	c, err := m.Create(ctx, vlanReq("c", DriverMacvlan, freeSubnet(t), map[string]string{OptParent: "up0.20"}))
	if err != nil || c.ParentCreated {
		t.Fatalf("create on an existing sub-interface: %v %+v", err, c)
	}
	if _, err := m.Remove(ctx, "c"); err != nil || len(f.deleted) != 1 {
		t.Fatalf("remove c: %v, deleted %v", err, f.deleted)
	}
}

func TestVlanBadParentLeavesNothing(t *testing.T) {
	ctx := context.Background()
	f := useFakeLinks(t, "up0")
	root := t.TempDir()
	m, _ := newManager(t, root, false)
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	sub := freeSubnet(t)
	for _, c := range []struct {
		req  network.CreateRequest
		want string
		is   func(error) bool
	}{
		{vlanReq("x", DriverMacvlan, sub, map[string]string{OptParent: "eth9"}), "invalid subinterface vlan name eth9", isInvalid},
		{vlanReq("x", DriverMacvlan, sub, map[string]string{OptParent: "eth9.10"}), "-o parent interface was not found on the host: eth9", isInvalid},
		{vlanReq("x", DriverIPvlan, sub, map[string]string{OptParent: "up0", OptIPvlanMode: "l4"}), "requested ipvlan mode 'l4' is not valid", isInvalid},
	} {
		_, err := m.Create(ctx, c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) || !c.is(err) {
			t.Errorf("%+v: %v", c.req.Options, err)
		}
	}
	// The kernel refusing the link gives the addresses back.
	f.fail = errors.New("failed to create up0.10 vlan link: operation not supported")
	if _, err := m.Create(ctx, vlanReq("x", DriverMacvlan, sub, map[string]string{OptParent: "up0.10"})); err == nil || !errdefs.Is(err, errdefs.System) {
		t.Fatalf("kernel refusal: %v", err)
	}
	f.fail = nil
	if ids := m.ipam.Networks(); len(ids) != 1 {
		t.Fatalf("IPAM holds %d networks after failed creates (want the default bridge only)", len(ids))
	}
	entries, _ := os.ReadDir(filepath.Join(root, "networks"))
	if len(entries) != 0 || len(f.made) != 0 {
		t.Fatalf("records %v, links made %v", entries, f.made)
	}
	if _, err := m.Create(ctx, vlanReq("x", DriverMacvlan, sub, map[string]string{OptParent: "up0"})); err != nil {
		t.Fatalf("the subnet was not given back: %v", err)
	}
}

func TestVlanParentSharingRules(t *testing.T) {
	ctx := context.Background()
	useFakeLinks(t, "up0", "up1", "up3")
	m, _ := newManager(t, t.TempDir(), false)
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	iv, err := m.Create(ctx, vlanReq("iv", DriverIPvlan, freeSubnet(t), map[string]string{OptParent: "up0"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Create(ctx, vlanReq("iv2", DriverIPvlan, freeSubnet(t), map[string]string{OptParent: "up0"}))
	if want := "network di-" + iv.ID[:12] + " is already using parent interface up0"; err == nil || err.Error() != want {
		t.Fatalf("second ipvlan network: %v, want %q", err, want)
	}
	pt, err := m.Create(ctx, vlanReq("pt", DriverMacvlan, freeSubnet(t), map[string]string{OptParent: "up1", OptMacvlanMode: "passthru"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Create(ctx, vlanReq("mv", DriverMacvlan, freeSubnet(t), map[string]string{OptParent: "up1"}))
	if want := "macvlan network " + pt.ID + " is already using parent interface up1 in mode passthru"; err == nil || err.Error() != want {
		t.Fatalf("beside passthru: %v, want %q", err, want)
	}
	// Overlapping subnets on one parent: IPAM's one address space
	// refuses them, with dockerd's message and status.
	sub := freeSubnet(t)
	if _, err := m.Create(ctx, vlanReq("m1", DriverMacvlan, sub, map[string]string{OptParent: "up3"})); err != nil {
		t.Fatal(err)
	}
	_, err = m.Create(ctx, vlanReq("m2", DriverMacvlan, sub, map[string]string{OptParent: "up3"}))
	if err == nil || !errdefs.Is(err, errdefs.Forbidden) || !strings.Contains(err.Error(), "Pool overlaps") {
		t.Fatalf("overlapping subnet on one parent: %v", err)
	}
}

func TestVlanGatewaysAndDummyParent(t *testing.T) {
	ctx := context.Background()
	f := useFakeLinks(t, "up0", "up1", "up2")
	root := t.TempDir()
	m, cfg := newManager(t, root, false)
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	gw := func(r *Record) netip.Addr { return r.IPAMConfig[0].Gateway }
	mv, _ := m.Create(ctx, vlanReq("mv", DriverMacvlan, freeSubnet(t), map[string]string{OptParent: "up0"}))
	l3, _ := m.Create(ctx, vlanReq("l3", DriverIPvlan, freeSubnet(t), map[string]string{OptParent: "up1", OptIPvlanMode: "l3"}))
	req := vlanReq("int", DriverMacvlan, netip.Prefix{}, map[string]string{OptParent: "up2"})
	req.Internal = true
	internal, _ := m.Create(ctx, req)
	noParent, err := m.Create(ctx, vlanReq("np", DriverMacvlan, netip.Prefix{}, nil))
	if err != nil || mv == nil || l3 == nil || internal == nil {
		t.Fatalf("create: %v", err)
	}
	if !gw(mv).IsValid() || gw(l3).IsValid() || gw(internal).IsValid() || gw(noParent).IsValid() {
		t.Fatalf("gateways: macvlan %v, ipvlan l3 %v, internal %v, no parent %v", gw(mv), gw(l3), gw(internal), gw(noParent))
	}
	dummy := "dm-" + noParent.ID[:12]
	if noParent.Parent != dummy || !noParent.ParentCreated || !f.links[dummy] || noParent.Internal || !noParent.isolated() {
		t.Fatalf("no-parent network: %+v", noParent)
	}
	if n := noParent.Network(); len(n.Options) != 0 || n.Driver != DriverMacvlan {
		t.Fatalf("inspect of a no-parent network: %+v", n)
	}
	// A restarted daemon (after a host reboot) makes the parents it made
	// again.
	delete(f.links, dummy)
	m2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if !f.links[dummy] {
		t.Fatal("the dummy parent was not restored at start")
	}
	if _, err := m2.Remove(ctx, "np"); err != nil || !strings.Contains(strings.Join(f.deleted, ","), dummy) {
		t.Fatalf("remove: %v, deleted %v", err, f.deleted)
	}
}
