package network

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// /etc/hosts lists a container's addresses in the order it joined its
// networks, as dockerd's file does: a disconnect removes that network's
// lines and no other, and a reconnect appends them at the end.
func TestDNSEtcHostsConnectOrder(t *testing.T) {
	withImages(t)
	sub1, gw1, o1 := testSubnet()
	sub2, gw2, o2 := testSubnet()
	v6a := fmt.Sprintf("fd%02x:%04x:%04x::", rand.IntN(256), rand.IntN(1<<16), rand.IntN(1<<16))
	v6b := fmt.Sprintf("fd%02x:%04x:%04x::", rand.IntN(256), rand.IntN(1<<16), rand.IntN(1<<16))
	n1, n2 := uniq("eh1"), uniq("eh2")
	createNet(t, n1, "--ipv6", "--subnet", sub1, "--gateway", gw1, "--subnet", v6a+"/64", "--gateway", v6a+"1")
	createNet(t, n2, "--ipv6", "--subnet", sub2, "--gateway", gw2, "--subnet", v6b+"/64", "--gateway", v6b+"1")
	name := uniq("c")
	id := runD(t, d, "--name", name, "--hostname", "c1.invalid", "--network", n1,
		"--add-host", "otherhost.invalid:192.0.2.3", "--add-host", "otherhost.invalid:2001:db8::1234", img, "sleep", "300")
	hosts := func() string { return d.DockerT(t, "exec", id, "cat", "/etc/hosts") }
	base := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n" +
		"192.0.2.3\totherhost.invalid\n2001:db8::1234\totherhost.invalid\n"
	// A network's lines: its addresses as inspect shows them now.
	self := func(n string) string {
		es := ctrInspect(t, d, id).NetworkSettings.Networks[n]
		if es == nil || !es.IPAddress.IsValid() || !es.GlobalIPv6Address.IsValid() {
			t.Fatalf("no addresses on %s: %+v", n, es)
		}
		return es.IPAddress.String() + "\tc1.invalid c1\n" + es.GlobalIPv6Address.String() + "\tc1.invalid c1\n"
	}
	check := func(step, want string) {
		t.Helper()
		if got := hosts(); got != want {
			t.Fatalf("%s: /etc/hosts\n%s\nwant\n%s", step, got, want)
		}
	}
	self1 := self(n1)
	d.DockerT(t, "network", "connect", n2, name)
	self2 := self(n2)
	check("connected to both", base+self1+self2)
	d.DockerT(t, "network", "disconnect", n1, name)
	check("first network gone", base+self2)
	d.DockerT(t, "network", "connect", n1, name)
	check("first network back, after the second", base+self2+self(n1))
	d.DockerT(t, "network", "disconnect", n1, name)
	check("first network gone again", base+self2)
	d.DockerT(t, "network", "disconnect", n2, name)
	check("no network", base)
	if out := hosts(); strings.Contains(out, o1+".") || strings.Contains(out, o2+".") {
		t.Fatalf("addresses left after the last disconnect:\n%s", out)
	}
}
