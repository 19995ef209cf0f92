package bridge

import (
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/berthd/berth/network/internal/nettest"
)

// The view sees a route and an address added after its first dump without
// dumping again, and a deletion after one more dump.
func TestHostViewFollowsTheHost(t *testing.T) {
	nettest.RequireRoot(t)
	v, err := WatchHost()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	sub := testSubnet(t)
	if v.Conflict(sub) {
		t.Fatalf("%s conflicts before anything uses it", sub)
	}
	name := nettest.Name("bhv")
	nettest.CleanupLink(t, name)
	for _, c := range [][]string{
		{"ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"},
		{"ip", "addr", "add", netip.PrefixFrom(nth(sub, 1), 24).String(), "dev", name},
		{"ip", "link", "set", name, "up"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	waitFor := func(want bool, what string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for v.Conflict(sub) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: Conflict(%s) != %v", what, sub, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(true, "after the address was added")
	v.mu.Lock()
	stale := v.stale
	v.mu.Unlock()
	if stale {
		t.Fatal("an addition made the view dump again")
	}
	if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	waitFor(false, "after the link was deleted")
}
