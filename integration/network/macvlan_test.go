package network

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// mvDummy makes an up link to stand in for a host's NIC as the parent of
// macvlan and ipvlan networks: a dummy, or on a kernel built without dummy
// links one end of a veth pair (whose peer is up, so that it has carrier).
// Whatever berth left on it goes when it is deleted at test end.
func mvDummy(t *testing.T) string {
	t.Helper()
	name := uniq("bvdum")
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	if !mvKernelHas("dummy") {
		peer := name + "p"
		if out, err := exec.Command("ip", "link", "add", name, "type", "veth", "peer", "name", peer).CombinedOutput(); err != nil {
			t.Fatalf("ip link add %s type veth: %v: %s", name, err, out)
		}
		exec.Command("ip", "link", "set", peer, "up").Run()
	} else if out, err := exec.Command("ip", "link", "add", name, "type", "dummy").CombinedOutput(); err != nil {
		t.Fatalf("ip link add %s type dummy: %v: %s", name, err, out)
	}
	if out, err := exec.Command("ip", "link", "set", name, "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s up: %v: %s", name, err, out)
	}
	return name
}

// mvKernelHas probes whether the kernel makes links of a type (dummy,
// ipvlan and 802.1q vlan are often modules, or left out of VM kernels).
func mvKernelHas(kind string) bool {
	lower := uniq("bvprb")
	probe := lower + "x"
	var args []string
	switch kind {
	case "dummy":
		args = []string{"link", "add", probe, "type", "dummy"}
	default:
		if err := exec.Command("ip", "link", "add", lower, "type", "veth", "peer", "name", lower+"p").Run(); err != nil {
			return false
		}
		defer exec.Command("ip", "link", "del", lower).Run()
		args = []string{"link", "add", "link", lower, "name", probe, "type", kind}
		if kind == "vlan" {
			args = append(args, "id", "10")
		}
	}
	err := exec.Command("ip", args...).Run()
	exec.Command("ip", "link", "del", probe).Run()
	return err == nil
}

// mvKernelOr reports whether the kernel makes links of kind. Where it
// does not (this project's CI kernel has no ipvlan, 802.1q or dummy), the
// test checks what a user of such a kernel gets instead, refused, a clear
// error and nothing left behind, and says so in its log.
func mvKernelOr(t *testing.T, kind string, refusal func(t *testing.T)) bool {
	t.Helper()
	if mvKernelHas(kind) {
		return true
	}
	t.Logf("this kernel makes no %s links: checking the refusal instead of the driver", kind)
	refusal(t)
	return false
}

// mvGone checks that a refused network left no record.
func mvGone(t *testing.T, name string) {
	t.Helper()
	if _, _, err := d.Docker("network", "inspect", name); err == nil {
		t.Fatalf("the refused network %s exists", name)
	}
}

// mvCreateNet creates a network whose removal at test end is checked
// elsewhere (createNet would also delete a bridge named after it).
func mvCreateNet(t *testing.T, name string, args ...string) string {
	t.Helper()
	id := strings.TrimSpace(d.DockerT(t, append(append([]string{"network", "create"}, args...), name)...))
	t.Cleanup(func() { d.Docker("network", "rm", name) })
	return id
}

// mvSleeper starts a named container on a network that stays up.
func mvSleeper(t *testing.T, netName, name string, args ...string) string {
	t.Helper()
	return runD(t, d, append(append([]string{"--network", netName, "--name", name}, args...), img, "sleep", "300")...)
}

// mvPing pings target by name from a fresh container on the network.
func mvPing(t *testing.T, netName, target string, v6 bool) {
	t.Helper()
	ping := "ping -c1 -W2 "
	if v6 {
		ping = "ping -6 -c1 -W2 "
	}
	out, errOut, err := d.Docker("run", "--rm", "--network", netName, img, "sh", "-c",
		"for i in 1 2 3; do "+ping+target+" && exit 0; sleep 0.3; done; exit 1")
	if err != nil {
		t.Fatalf("ping %s on %s: %v\n%s%s", target, netName, err, out, errOut)
	}
}

func mvExec(t *testing.T, id string, cmd ...string) string {
	t.Helper()
	return d.DockerT(t, append([]string{"exec", id}, cmd...)...)
}

func TestMacvlanBridgeModeOnDummyParent(t *testing.T) {
	withImages(t)
	parent := mvDummy(t)
	subnet, gw, o := testSubnet()
	name := uniq("mv")
	mvCreateNet(t, name, "-d", "macvlan", "-o", "parent="+parent, "-o", "macvlan_mode=bridge",
		"--subnet", subnet, "--gateway", gw, "--aux-address", "router="+o+".2")

	n := inspect(t, name)
	if n.Driver != "macvlan" || n.Scope != "local" || n.Options["parent"] != parent || n.Options["macvlan_mode"] != "bridge" || len(n.Options) != 2 {
		t.Fatalf("inspect: driver %q scope %q options %v", n.Driver, n.Scope, n.Options)
	}
	if len(n.IPAM.Config) != 1 || n.IPAM.Config[0].Subnet.String() != subnet || n.IPAM.Config[0].Gateway.String() != gw ||
		n.IPAM.Config[0].AuxAddress["router"].String() != o+".2" {
		t.Fatalf("IPAM: %+v", n.IPAM)
	}
	if out := d.DockerT(t, "network", "ls", "--filter", "name="+name, "--format", "{{.Name}} {{.Driver}}"); strings.TrimSpace(out) != name+" macvlan" {
		t.Fatalf("network ls: %q", out)
	}

	a, b := uniq("mva"), uniq("mvb")
	idA := mvSleeper(t, name, a, "--ip", o+".10")
	mvSleeper(t, name, b)
	if ip := ipOn(t, d, idA, name); ip != o+".10" {
		t.Fatalf("--ip: got %s", ip)
	}
	// The aux address is reserved: the second container got neither it
	// nor the gateway.
	if ip := ipOn(t, d, b, name); ip == o+".2" || ip == gw || !strings.HasPrefix(ip, o+".") {
		t.Fatalf("dynamic address %s on %s", ip, subnet)
	}
	mvPing(t, name, a, false)
	mvPing(t, name, b, false)

	// eth0 is a macvlan device with its random, locally administered MAC
	// and the default route through the network's gateway.
	es := ctrInspect(t, d, idA).NetworkSettings.Networks[name]
	if es.Gateway.String() != gw || len(es.MacAddress) != 6 || es.MacAddress[0]&0x03 != 0x02 {
		t.Fatalf("endpoint: gateway %s mac %s", es.Gateway, es.MacAddress)
	}
	if out := mvExec(t, idA, "ip", "route"); !strings.Contains(out, "default via "+gw+" dev eth0") {
		t.Fatalf("routes:\n%s", out)
	}
	if out := mvExec(t, idA, "ip", "link", "show", "eth0"); !strings.Contains(strings.ToLower(out), es.MacAddress.String()) {
		t.Fatalf("eth0 (want %s):\n%s", es.MacAddress, out)
	}
	n = inspect(t, name)
	if len(n.Containers) != 2 || n.Containers[idA].Name != a || n.Containers[idA].IPv4Address.Addr().String() != o+".10" {
		t.Fatalf("inspect containers: %+v", n.Containers)
	}
	// No veth and no bridge: nothing of the network on the host but its
	// parent, and berth leaves that one alone.
	d.DockerT(t, "rm", "-f", a, b)
	d.DockerT(t, "network", "rm", name)
	if !linkExists(parent) {
		t.Fatalf("the parent %s was deleted with the network", parent)
	}
}

func TestIPvlanModesOnDummyParent(t *testing.T) {
	withImages(t)
	if !mvKernelOr(t, "ipvlan", func(t *testing.T) {
		parent := mvDummy(t)
		subnet, _, _ := testSubnet()
		name := uniq("iv")
		mvCreateNet(t, name, "-d", "ipvlan", "-o", "parent="+parent, "--subnet", subnet)
		got := dockerErr(t, "run", "--rm", "--network", name, img, "true")
		if !strings.Contains(got, "failed to create the ipvlan port: operation not supported") {
			t.Fatalf("a container on ipvlan without kernel support: %q", got)
		}
		if n := inspect(t, name); len(n.Containers) != 0 {
			t.Fatalf("the refused container left an endpoint: %+v", n.Containers)
		}
	}) {
		return
	}
	for _, mode := range []string{"l2", "l3", "l3s"} {
		t.Run(mode, func(t *testing.T) {
			parent := mvDummy(t)
			subnet, gw, o := testSubnet()
			name := uniq("iv")
			args := []string{"-d", "ipvlan", "-o", "parent=" + parent, "-o", "ipvlan_mode=" + mode, "--subnet", subnet}
			mvCreateNet(t, name, args...)
			n := inspect(t, name)
			if n.Driver != "ipvlan" || n.Options["parent"] != parent || n.Options["ipvlan_mode"] != mode {
				t.Fatalf("inspect: %q %v", n.Driver, n.Options)
			}
			// l3 routes through the device: dockerd reserves no gateway.
			if wantGw := mode == "l2"; n.IPAM.Config[0].Gateway.IsValid() != wantGw {
				t.Fatalf("gateway %v in mode %s", n.IPAM.Config[0].Gateway, mode)
			}
			a, b := uniq("iva"), uniq("ivb")
			idA := mvSleeper(t, name, a)
			mvSleeper(t, name, b)
			mvPing(t, name, a, false)
			mvPing(t, name, b, false)
			routes := mvExec(t, idA, "ip", "route")
			if mode == "l2" && !strings.Contains(routes, "default via "+gw+" dev eth0") ||
				mode != "l2" && !strings.Contains(routes, "default dev eth0") {
				t.Fatalf("routes in mode %s:\n%s", mode, routes)
			}
			es := ctrInspect(t, d, idA).NetworkSettings.Networks[name]
			if mode != "l2" && es.Gateway.IsValid() {
				t.Fatalf("gateway %s in mode %s", es.Gateway, mode)
			}
			if !strings.HasPrefix(es.IPAddress.String(), o+".") {
				t.Fatalf("address %s", es.IPAddress)
			}
		})
	}
}

// Both refusals come before any link is made: no kernel support needed.
func TestIPvlanRefusesMACAndSecondNetworkOnParent(t *testing.T) {
	withImages(t)
	parent := mvDummy(t)
	subnet, _, _ := testSubnet()
	name := uniq("iv")
	id := mvCreateNet(t, name, "-d", "ipvlan", "-o", "parent="+parent, "--subnet", subnet)
	subnet2, _, _ := testSubnet()
	got := dockerErr(t, "network", "create", "-d", "ipvlan", "-o", "parent="+parent, "--subnet", subnet2, uniq("iv2"))
	if want := "network di-" + id[:12] + " is already using parent interface " + parent; !strings.Contains(got, want) {
		t.Fatalf("second ipvlan network on %s: %q, want %q", parent, got, want)
	}
	got = dockerErr(t, "run", "--rm", "--network", name, "--mac-address", "02:42:0a:00:00:09", img, "true")
	if !strings.Contains(got, "ipvlan interfaces do not support custom mac address assignment") {
		t.Fatalf("custom MAC on ipvlan: %q", got)
	}
	if n := inspect(t, name); len(n.Containers) != 0 {
		t.Fatalf("a refused container left an endpoint: %+v", n.Containers)
	}
}

func TestMacvlanVLANSubInterfaceMadeAndRemoved(t *testing.T) {
	withImages(t)
	if !mvKernelOr(t, "vlan", func(t *testing.T) {
		lower := mvDummy(t)
		subnet, _, _ := testSubnet()
		name := uniq("mvv")
		got := dockerErr(t, "network", "create", "-d", "macvlan", "-o", "parent="+lower+".10", "--subnet", subnet, name)
		if !strings.Contains(got, "failed to create "+lower+".10 vlan link: operation not supported") {
			t.Fatalf("a VLAN parent without kernel support: %q", got)
		}
		mvGone(t, name)
		if linkExists(lower + ".10") {
			t.Fatal("a VLAN link was left")
		}
	}) {
		return
	}
	lower := mvDummy(t)
	sub := lower + ".10"
	t.Cleanup(func() { exec.Command("ip", "link", "del", sub).Run() })
	subnet1, _, _ := testSubnet()
	subnet2, _, _ := testSubnet()
	n1, n2 := uniq("mvv"), uniq("mvv")
	mvCreateNet(t, n1, "-d", "macvlan", "-o", "parent="+sub, "--subnet", subnet1)
	out, err := exec.Command("ip", "-d", "link", "show", sub).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "vlan protocol 802.1Q id 10") || !strings.Contains(string(out), sub+"@"+lower) {
		t.Fatalf("the daemon did not make %s as VLAN 10 on %s: %v\n%s", sub, lower, err, out)
	}
	// A second macvlan network shares the sub-interface; containers on
	// the first reach each other over it.
	mvCreateNet(t, n2, "-d", "macvlan", "-o", "parent="+sub, "--subnet", subnet2)
	a := uniq("mva")
	mvSleeper(t, n1, a)
	mvPing(t, n1, a, false)
	d.DockerT(t, "rm", "-f", a)

	d.DockerT(t, "network", "rm", n1)
	if !linkExists(sub) {
		t.Fatalf("%s deleted while network %s still uses it", sub, n2)
	}
	d.DockerT(t, "network", "rm", n2)
	if linkExists(sub) {
		t.Fatalf("%s outlived the last network on it", sub)
	}
	if !linkExists(lower) {
		t.Fatalf("the lower device %s was deleted", lower)
	}

	// A sub-interface the admin made is used and never deleted.
	own := lower + ".20"
	if out, err := exec.Command("ip", "link", "add", "link", lower, "name", own, "type", "vlan", "id", "20").CombinedOutput(); err != nil {
		t.Fatalf("ip link add %s: %v: %s", own, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", own).Run() })
	n3 := uniq("mvv")
	mvCreateNet(t, n3, "-d", "macvlan", "-o", "parent="+own, "--subnet", subnet1)
	d.DockerT(t, "network", "rm", n3)
	if !linkExists(own) {
		t.Fatalf("the admin's %s was deleted with the network", own)
	}
}

func TestMacvlanWithoutParentIsInternal(t *testing.T) {
	withImages(t)
	if !mvKernelOr(t, "dummy", func(t *testing.T) {
		subnet, _, _ := testSubnet()
		name := uniq("mvn")
		got := dockerErr(t, "network", "create", "-d", "macvlan", "--subnet", subnet, name)
		if !strings.Contains(got, "dummy link: operation not supported") {
			t.Fatalf("a network without parent, without dummy links: %q", got)
		}
		mvGone(t, name)
		// The subnet is free again.
		id := mvCreateNet(t, name, "--subnet", subnet)
		d.DockerT(t, "network", "rm", id)
	}) {
		return
	}
	subnet, _, _ := testSubnet()
	name := uniq("mvn")
	id := mvCreateNet(t, name, "-d", "macvlan", "--subnet", subnet)
	dummy := "dm-" + id[:12]
	t.Cleanup(func() { exec.Command("ip", "link", "del", dummy).Run() })
	if !linkExists(dummy) {
		t.Fatalf("no dummy parent %s", dummy)
	}
	if n := inspect(t, name); n.IPAM.Config[0].Gateway.IsValid() {
		t.Fatalf("gateway %s on a network without parent", n.IPAM.Config[0].Gateway)
	}
	a := uniq("mva")
	idA := mvSleeper(t, name, a)
	mvPing(t, name, a, false)
	if out := mvExec(t, idA, "ip", "route"); strings.Contains(out, "default") {
		t.Fatalf("default route without a parent:\n%s", out)
	}
	d.DockerT(t, "rm", "-f", a)
	d.DockerT(t, "network", "rm", name)
	if linkExists(dummy) {
		t.Fatalf("dummy parent %s outlived its network", dummy)
	}
}

func TestMacvlanIgnoresPublishedPortsAndDualStack(t *testing.T) {
	withImages(t)
	parent := mvDummy(t)
	subnet, _, _ := testSubnet()
	name := uniq("mv6")
	mvCreateNet(t, name, "-d", "macvlan", "-o", "parent="+parent, "--ipv6", "--subnet", subnet, "--subnet", "fd7e:5a1:77::/64")
	a := uniq("mva")
	id := mvSleeper(t, name, a, "-p", "18080:80")
	c := ctrInspect(t, d, id)
	if len(c.NetworkSettings.Ports) != 0 {
		t.Fatalf("ports on a macvlan container: %v", c.NetworkSettings.Ports)
	}
	if out, _, _ := d.Docker("port", id); strings.TrimSpace(out) != "" {
		t.Fatalf("docker port: %q", out)
	}
	es := c.NetworkSettings.Networks[name]
	if !strings.HasPrefix(es.GlobalIPv6Address.String(), "fd7e:5a1:77::") || es.IPv6Gateway.String() != "fd7e:5a1:77::1" {
		t.Fatalf("IPv6 endpoint: %s gateway %s", es.GlobalIPv6Address, es.IPv6Gateway)
	}
	if out := mvExec(t, id, "ip", "-6", "addr", "show", "eth0"); !strings.Contains(out, es.GlobalIPv6Address.String()+"/64") {
		t.Fatalf("eth0 v6:\n%s", out)
	}
	mvPing(t, name, es.GlobalIPv6Address.String(), true)
}

func TestMacvlanBadInputLeavesNothing(t *testing.T) {
	parent := mvDummy(t)
	subnet, _, o := testSubnet()
	taken := uniq("mv")
	mvCreateNet(t, taken, "-d", "macvlan", "-o", "parent="+parent, "--subnet", subnet)
	before := names(t)
	free, _, _ := testSubnet()
	missing := uniq("bvno")

	for _, c := range []struct {
		body, want string
		status     int
	}{
		{`{"Name":"mvbad","Driver":"macvlan","Options":{"parent":"` + missing + `"},"IPAM":{"Config":[{"Subnet":"` + free + `"}]}}`,
			"invalid subinterface vlan name " + missing + ", example formatting is eth0.10", 400},
		{`{"Name":"mvbad","Driver":"macvlan","Options":{"parent":"` + missing + `.10"},"IPAM":{"Config":[{"Subnet":"` + free + `"}]}}`,
			"-o parent interface was not found on the host: " + missing, 400},
		{`{"Name":"mvbad","Driver":"macvlan","Options":{"parent":"` + parent + `.5000"},"IPAM":{"Config":[{"Subnet":"` + free + `"}]}}`,
			"vlan id must be between 1-4094, received: 5000", 400},
		{`{"Name":"mvbad","Driver":"macvlan","Options":{"parent":"` + parent + `.x"},"IPAM":{"Config":[{"Subnet":"` + free + `"}]}}`,
			"unable to parse a valid vlan id from: x (ex. eth0.10 for vlan 10)", 400},
		{`{"Name":"mvbad","Driver":"macvlan","Options":{"parent":"` + parent + `","macvlan_mode":"bogus"},"IPAM":{"Config":[{"Subnet":"` + free + `"}]}}`,
			"requested macvlan mode 'bogus' is not valid, 'bridge' mode is the macvlan driver default", 400},
		{`{"Name":"mvbad","Driver":"ipvlan","Options":{"parent":"` + parent + `","ipvlan_mode":"l4"},"IPAM":{"Config":[{"Subnet":"` + free + `"}]}}`,
			"requested ipvlan mode 'l4' is not valid, 'l2' mode is the ipvlan driver default", 400},
		{`{"Name":"mvbad","Driver":"ipvlan","Options":{"parent":"` + parent + `","ipvlan_flag":"x"},"IPAM":{"Config":[{"Subnet":"` + free + `"}]}}`,
			"requested ipvlan flag 'x' is not valid, 'bridge' is the ipvlan driver default", 400},
		{`{"Name":"mvbad","Driver":"macvlan","Options":{"parent":"lo"},"IPAM":{"Config":[{"Subnet":"` + free + `"}]}}`,
			"loopback interface is not a valid macvlan parent link", 400},
		// Two networks on one parent may not overlap: IPAM's one address
		// space refuses it, as dockerd's does.
		{`{"Name":"mvbad","Driver":"macvlan","Options":{"parent":"` + parent + `"},"IPAM":{"Config":[{"Subnet":"` + o + `.128/25"}]}}`,
			"invalid pool request: Pool overlaps with other one on this address space", 403},
		{`{"Name":"mvbad","Driver":"macvlan","Options":{"parent":"` + parent + `","macvlan_mode":"passthru"},"IPAM":{"Config":[{"Subnet":"` + free + `"}]}}`,
			"cannot use mode passthru, macvlan network ", 409},
	} {
		status, body := httpDo(t, "POST", "/networks/create", c.body)
		var e struct{ Message string }
		json.Unmarshal([]byte(body), &e)
		if status != c.status || !strings.HasPrefix(e.Message, c.want) {
			t.Errorf("POST %s:\n got %d %q\nwant %d %q", c.body, status, e.Message, c.status, c.want)
		}
	}
	// The CLI shows the daemon's message.
	if got := dockerErr(t, "network", "create", "-d", "macvlan", "-o", "parent="+missing+".10", uniq("mvbad")); got != "Error response from daemon: -o parent interface was not found on the host: "+missing {
		t.Errorf("docker network create: %q", got)
	}
	if !mvKernelHas("vlan") {
		// The kernel's refusal comes after the addresses were allocated:
		// they are given back.
		status, body := httpDo(t, "POST", "/networks/create", `{"Name":"mvbad","Driver":"macvlan","Options":{"parent":"`+parent+`.10"},"IPAM":{"Config":[{"Subnet":"`+free+`"}]}}`)
		if status != 500 || !strings.Contains(body, "failed to create "+parent+".10 vlan link") {
			t.Errorf("VLAN parent on a kernel without 802.1q: %d %s", status, body)
		}
	}
	// Nothing half-made: no network, no link, and the subnet is still free.
	if after := names(t); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("failed creates changed the network list:\nbefore %v\nafter  %v", before, after)
	}
	for _, l := range []string{missing + ".10", parent + ".5000"} {
		if linkExists(l) {
			t.Fatalf("a failed create left %s", l)
		}
	}
	mvCreateNet(t, uniq("mvok"), "-d", "macvlan", "-o", "parent="+parent, "--subnet", free)
}

func TestMacvlanPrivateModeAndConnectDisconnect(t *testing.T) {
	withImages(t)
	parent := mvDummy(t)
	subnet, _, _ := testSubnet()
	priv := uniq("mvp")
	mvCreateNet(t, priv, "-d", "macvlan", "-o", "parent="+parent, "-o", "macvlan_mode=private", "--subnet", subnet)
	a := uniq("mva")
	idA := mvSleeper(t, priv, a)
	ipA := ipOn(t, d, idA, priv)
	// Private ports do not talk to each other, though the embedded DNS
	// still answers for the network.
	out, errOut, err := d.Docker("run", "--rm", "--network", priv, img, "sh", "-c", "nslookup "+a+" 127.0.0.11; ping -c1 -W1 "+a)
	if err == nil || !strings.Contains(out, ipA) {
		t.Fatalf("private mode: ping succeeded or name unresolved: %v\n%s%s", err, out, errOut)
	}

	// docker network connect gives a running container on a bridge its
	// macvlan device as eth1; disconnect takes it away.
	br := uniq("mvbr")
	createNet(t, br)
	parent2 := mvDummy(t)
	subnet2, _, _ := testSubnet()
	mv := uniq("mvc")
	mvCreateNet(t, mv, "-d", "macvlan", "-o", "parent="+parent2, "--subnet", subnet2)
	c := uniq("mvc")
	idC := mvSleeper(t, br, c)
	d.DockerT(t, "network", "connect", mv, c)
	ipC := ipOn(t, d, idC, mv)
	if out := mvExec(t, idC, "ip", "-o", "addr", "show", "eth1"); !strings.Contains(out, ipC+"/24") {
		t.Fatalf("eth1 after connect:\n%s", out)
	}
	mvPing(t, mv, c, false)
	d.DockerT(t, "network", "disconnect", mv, c)
	if out, _, err := d.Docker("exec", idC, "ip", "link", "show", "eth1"); err == nil {
		t.Fatalf("eth1 survived disconnect:\n%s", out)
	}
	if n := inspect(t, mv); len(n.Containers) != 0 {
		t.Fatalf("endpoints after disconnect: %+v", n.Containers)
	}
}

func TestMacvlanSurvivesDaemonRestart(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Args: poolArgs, Config: `{"live-restore": true}`})
	dd.LoadTestImages(t)
	parent := mvDummy(t)
	subnet, _, _ := testSubnet()
	n := uniq("mvr")
	dd.DockerT(t, "network", "create", "-d", "macvlan", "-o", "parent="+parent, "--subnet", subnet, n)
	a := uniq("mva")
	id := runD(t, dd, "--network", n, "--name", a, img, "sleep", "300")
	ip := ipOn(t, dd, id, n)
	if err := dd.Restart(true); err != nil {
		t.Fatal(err)
	}
	if got := ipOn(t, dd, id, n); got != ip {
		t.Fatalf("address changed across a restart: %s -> %s", ip, got)
	}
	out, errOut, err := dd.Docker("run", "--rm", "--network", n, img, "sh", "-c", "for i in 1 2 3; do ping -c1 -W2 "+a+" && exit 0; sleep 0.3; done; exit 1")
	if err != nil {
		t.Fatalf("ping %s after restart: %v\n%s%s", a, err, out, errOut)
	}
	dd.DockerT(t, "rm", "-f", id)
	dd.DockerT(t, "network", "rm", n)
}
