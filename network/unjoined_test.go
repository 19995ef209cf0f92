package network

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthd/berth/network/bridge"
	"github.com/berthd/berth/network/internal/nettest"
	"github.com/berthd/berth/pkg/stringid"
)

// TestRestartReleasesUnfinishedJoin: an address IPAM gave to a Join that
// never recorded its endpoint (the daemon was killed between the two
// writes) is free again after a restart, and a finished join keeps its
// own (found by hack/torture, which saw such addresses held for good).
func TestRestartReleasesUnfinishedJoin(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	m, cfg := newManager(t, root, false)
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	r := createNet(t, m, "unjoined", freeSubnet(t))
	ep, err := m.Join(ctx, r.ID, JoinOptions{ContainerID: strings.Repeat("a", 64), Name: "kept", NetnsPath: nettest.NewNetns(t).Path})
	if err != nil {
		t.Fatal(err)
	}
	lost, err := m.ipam.RequestAddress(r.ID, false, netip.Addr{}, stringid.GenerateRandomID())
	if err != nil {
		t.Fatal(err)
	}
	if got := m.ipam.EndpointOwners(r.ID); len(got) != 2 {
		t.Fatalf("owners before the restart: %v", got)
	}

	m2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.ipam.EndpointOwners(r.ID); len(got) != 1 || got[0] != ep.ID {
		t.Fatalf("owners after the restart: %v, want only %s", got, ep.ID)
	}
	again, err := m2.ipam.RequestAddress(r.ID, false, lost.Addr(), stringid.GenerateRandomID())
	if err != nil || again.Addr() != lost.Addr() {
		t.Fatalf("the unfinished join's address %s is not free: %v %v", lost, again, err)
	}
}

// TestRestartRemovesBridgeOfUnrecordedNetwork: a network create killed
// after its bridge was made but before its record was written leaves
// neither the bridge nor its addresses after a restart (found by
// hack/torture -points at network.create.after-bridge: the bridge stayed
// for good).
func TestRestartRemovesBridgeOfUnrecordedNetwork(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	m, cfg := newManager(t, root, false)
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	sub := freeSubnet(t)
	r := createNet(t, m, "unrecorded", sub)
	if !bridge.Exists(r.Bridge) {
		t.Fatalf("bridge %s not made", r.Bridge)
	}
	// The crash: the record never reached the disk.
	if err := os.Remove(filepath.Join(root, "networks", r.ID+".json")); err != nil {
		t.Fatal(err)
	}
	m2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if bridge.Exists(r.Bridge) {
		t.Fatalf("bridge %s of the unrecorded network is still there", r.Bridge)
	}
	if slices.Contains(m2.ipam.Networks(), r.ID) {
		t.Fatal("IPAM still holds the unrecorded network")
	}
	// Its subnet is free for the next create.
	createNet(t, m2, "again", sub)
}
