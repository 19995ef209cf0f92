package network

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/integration/internal/harness"
)

func uniq(prefix string) string { return fmt.Sprintf("%s%06x", prefix, rand.IntN(1<<24)) }

// testSubnet returns a /24 in 10.2xx.0.0 that this run has not used; the
// high 10.x block stays clear of the default pools other test daemons
// draw from.
func testSubnet() (subnet, gw, octets string) {
	a, b := 200+rand.IntN(50), rand.IntN(256)
	octets = fmt.Sprintf("10.%d.%d", a, b)
	return octets + ".0/24", octets + ".1", octets
}

// createNet runs `docker network create` and registers removal of the
// network and, if that fails, of its bridge device.
func createNet(t *testing.T, name string, args ...string) string {
	t.Helper()
	out := d.DockerT(t, append(append([]string{"network", "create"}, args...), name)...)
	id := strings.TrimSpace(out)
	t.Cleanup(func() {
		d.Docker("network", "rm", name)
		dev := "br-" + id[:12]
		for i, a := range args {
			if strings.HasPrefix(a, "com.docker.network.bridge.name=") {
				dev = strings.TrimPrefix(a, "com.docker.network.bridge.name=")
			} else if a == "-o" && i+1 < len(args) && strings.HasPrefix(args[i+1], "com.docker.network.bridge.name=") {
				dev = strings.TrimPrefix(args[i+1], "com.docker.network.bridge.name=")
			}
		}
		if linkExists(dev) {
			exec.Command("ip", "link", "del", dev).Run()
		}
	})
	return id
}

func linkExists(name string) bool {
	return exec.Command("ip", "link", "show", name).Run() == nil
}

func inspect(t *testing.T, name string) network.Inspect {
	t.Helper()
	out := d.DockerT(t, "network", "inspect", name)
	var nets []network.Inspect
	if err := json.Unmarshal([]byte(out), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("inspect %s: %v\n%s", name, err, out)
	}
	return nets[0]
}

func ruleset(t *testing.T) string {
	t.Helper()
	harness.Require(t, exec.Command("nft", "--version").Run() == nil, "nft (Debian package nftables)")
	out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v %s", err, out)
	}
	return string(out)
}

// dockerErr runs a docker command that must fail and returns its error
// text without the CLI's trailing "exit status" line.
func dockerErr(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := d.Docker(args...)
	if err == nil {
		t.Fatalf("docker %s succeeded: %s", strings.Join(args, " "), out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if n := len(lines); n > 1 && strings.HasPrefix(lines[n-1], "exit status ") {
		lines = lines[:n-1]
	}
	return strings.Join(lines, "\n")
}

func httpDo(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	resp, b := d.Do(t, method, path, body)
	return resp.StatusCode, b
}

func names(t *testing.T, args ...string) []string {
	t.Helper()
	out := d.DockerT(t, append([]string{"network", "ls", "--format", "{{.Name}}"}, args...)...)
	return strings.Fields(out)
}

func TestPredefinedNetworks(t *testing.T) {
	out := d.DockerT(t, "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}", "--filter", "type=builtin")
	for _, want := range []string{"bridge bridge local", "host host local", "none null local"} {
		if !strings.Contains(out, want) {
			t.Errorf("network ls lacks %q:\n%s", want, out)
		}
	}
	br := inspect(t, "bridge")
	if br.Options["com.docker.network.bridge.name"] != d.Bridge || br.Options["com.docker.network.bridge.default_bridge"] != "true" {
		t.Errorf("bridge options: %v", br.Options)
	}
	if len(br.IPAM.Config) != 1 || !br.IPAM.Config[0].Subnet.IsValid() || !br.IPAM.Config[0].Gateway.IsValid() {
		t.Fatalf("bridge IPAM: %+v", br.IPAM)
	}
	// The default bridge device exists with the gateway address.
	addr, err := exec.Command("ip", "-o", "addr", "show", "dev", d.Bridge).CombinedOutput()
	if err != nil || !strings.Contains(string(addr), br.IPAM.Config[0].Gateway.String()+"/") {
		t.Fatalf("default bridge %s: %v %s", d.Bridge, err, addr)
	}
	// Predefined IDs are stable: inspect by ID prefix finds the same.
	if got := inspect(t, br.ID[:12]); got.Name != "bridge" {
		t.Fatalf("inspect by ID prefix: %s", got.Name)
	}
}

func TestCreateInspectRemove(t *testing.T) {
	subnet, gw, o := testSubnet()
	name, dev := uniq("bn"), uniq("btn")
	since := time.Now().Add(-time.Second).Unix()
	before := ruleset(t)
	id := createNet(t, name,
		"--subnet", subnet, "--ip-range", o+".128/25", "--gateway", gw, "--aux-address", "router="+o+".2",
		"--label", "team=net", "--attachable", "-o", "com.docker.network.bridge.name="+dev,
		"-o", "com.docker.network.driver.mtu=1400", "-o", "com.docker.network.bridge.enable_icc=false")
	if len(id) != 64 {
		t.Fatalf("network ID %q", id)
	}
	nw := inspect(t, name)
	if nw.ID != id || nw.Driver != "bridge" || nw.Scope != "local" || !nw.Attachable || nw.Internal || !nw.EnableIPv4 || nw.EnableIPv6 {
		t.Errorf("inspect: %+v", nw.Network)
	}
	if nw.Labels["team"] != "net" || nw.Options["com.docker.network.bridge.name"] != dev || nw.IPAM.Driver != "default" {
		t.Errorf("labels/options/ipam: %v %v %v", nw.Labels, nw.Options, nw.IPAM.Driver)
	}
	c := nw.IPAM.Config
	if len(c) != 1 || c[0].Subnet.String() != subnet || c[0].Gateway.String() != gw || c[0].IPRange.String() != o+".128/25" || c[0].AuxAddress["router"].String() != o+".2" {
		t.Errorf("IPAM config: %+v", c)
	}
	if nw.Containers == nil || len(nw.Containers) != 0 {
		t.Errorf("containers: %v", nw.Containers)
	}
	link, err := exec.Command("ip", "-o", "link", "show", "dev", dev).CombinedOutput()
	if err != nil || !strings.Contains(string(link), "mtu 1400") {
		t.Fatalf("bridge device: %v %s", err, link)
	}
	addr, _ := exec.Command("ip", "-o", "addr", "show", "dev", dev).CombinedOutput()
	if !strings.Contains(string(addr), gw+"/24") {
		t.Fatalf("bridge address: %s", addr)
	}
	rs := ruleset(t)
	// icc=false: one of berth's bridges, but not in the set of bridges
	// whose containers may talk to each other.
	if !strings.Contains(rs, "table inet "+tableName(d)) || !strings.Contains(rs, `"`+dev+`"`) || gwInICCSet(rs, dev) {
		t.Fatalf("icc=false rule missing from berth's table:\n%s", rs)
	}

	d.DockerT(t, "network", "rm", name)
	if linkExists(dev) {
		t.Fatal("bridge left after rm")
	}
	if strings.Contains(ruleset(t), dev) {
		t.Fatal("rules for the bridge left after rm")
	}
	if out, _, err := d.Docker("network", "inspect", name); err == nil {
		t.Fatalf("inspect after rm: %s", out)
	}
	_ = before
	ev := d.DockerT(t, "events", "--since", fmt.Sprint(since), "--until", fmt.Sprint(time.Now().Unix()+1),
		"--filter", "type=network", "--filter", "network="+id, "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}")
	if !strings.Contains(ev, "create "+name+" bridge") || !strings.Contains(ev, "destroy "+name+" bridge") {
		t.Fatalf("events:\n%s", ev)
	}
}

func TestCreateAutoSubnetAndIPv6(t *testing.T) {
	name := uniq("auto")
	createNet(t, name)
	nw := inspect(t, name)
	if len(nw.IPAM.Config) != 1 || !nw.IPAM.Config[0].Subnet.Addr().Is4() {
		t.Fatalf("auto subnet: %+v", nw.IPAM.Config)
	}
	v6 := uniq("v6")
	createNet(t, v6, "--ipv6", "--subnet", fmt.Sprintf("fd%02x:%04x::/64", rand.IntN(256), rand.IntN(1<<16)))
	nw6 := inspect(t, v6)
	if !nw6.EnableIPv6 || len(nw6.IPAM.Config) != 2 {
		t.Fatalf("ipv6 network: %+v", nw6.IPAM.Config)
	}
	has6 := false
	for _, c := range nw6.IPAM.Config {
		has6 = has6 || c.Subnet.Addr().Is6()
	}
	if !has6 {
		t.Fatalf("no IPv6 subnet: %+v", nw6.IPAM.Config)
	}
}

func TestCreateErrors(t *testing.T) {
	subnet, _, o := testSubnet()
	taken := uniq("taken")
	createNet(t, taken, "--subnet", subnet)
	before := names(t)

	cases := []struct {
		args   []string
		want   string
		status int
		body   string
	}{
		{[]string{"network", "create", taken}, "Error response from daemon: network with name " + taken + " already exists",
			409, `{"Name":"` + taken + `"}`},
		{[]string{"network", "create", "--subnet", o + ".128/25", uniq("ov")}, "Error response from daemon: invalid pool request: Pool overlaps with other one on this address space",
			403, `{"Name":"ovl","IPAM":{"Config":[{"Subnet":"` + o + `.128/25"}]}}`},
		// The CLI checks a gateway against its subnet itself; the daemon's
		// own message is checked over HTTP below.
		{[]string{"network", "create", "--subnet", "10.251.7.0/24", "--gateway", "10.252.0.1", uniq("gw")}, "no matching subnet for gateway 10.252.0.1",
			400, `{"Name":"gw","IPAM":{"Config":[{"Subnet":"10.251.7.0/24","Gateway":"10.252.0.1"}]}}`},
		{[]string{"network", "create", "--subnet", "10.251.7.300/24", uniq("bad")}, "Error response from daemon: invalid network config:\ninvalid subnet 10.251.7.300/24: invalid CIDR block notation",
			400, `{"Name":"bad","IPAM":{"Config":[{"Subnet":"nonsense"}]}}`},
		{[]string{"network", "create", "--subnet", "10.251.7.0/24", "--gateway", "10.251.7.999", uniq("badgw")}, "no matching subnet for gateway 10.251.7.999",
			400, `{"Name":"badgw","IPAM":{"Config":[{"Subnet":"10.251.7.0/24","Gateway":"x"}]}}`},
		{[]string{"network", "create", "--subnet", "10.251.7.5/24", uniq("host")}, "Error response from daemon: invalid network config:\ninvalid subnet 10.251.7.5/24: it should be 10.251.7.0/24",
			400, `{"Name":"hb","IPAM":{"Config":[{"Subnet":"10.251.7.5/24"}]}}`},
		{[]string{"network", "create", "-d", "bogus", uniq("drv")}, "Error response from daemon: could not find plugin bogus in v1 plugin registry: plugin not found",
			404, `{"Name":"drv","Driver":"bogus"}`},
		{[]string{"network", "create", "bridge"}, "Error response from daemon: operation is not permitted on predefined bridge network",
			403, `{"Name":"host"}`},
		{[]string{"network", "create", "-d", "host", uniq("h")}, `Error response from daemon: only one instance of "host" network is allowed`,
			403, `{"Name":"h2","Driver":"host"}`},
	}
	for _, c := range cases {
		if got := dockerErr(t, c.args...); strings.TrimSpace(got) != c.want {
			t.Errorf("docker %s:\n got %q\nwant %q", strings.Join(c.args, " "), got, c.want)
		}
		status, body := httpDo(t, "POST", "/networks/create", c.body)
		if status != c.status {
			t.Errorf("POST %s: status %d, want %d (%s)", c.body, status, c.status, body)
		}
	}
	for body, want := range map[string]string{
		`{"Name":"gw","IPAM":{"Config":[{"Subnet":"10.251.7.0/24","Gateway":"10.252.0.1"}]}}`:                                          "invalid network config:\ninvalid gateway 10.252.0.1: parent subnet 10.251.7.0/24 doesn't contain this address",
		`{"Name":"gw","IPAM":{"Config":[{"Subnet":"10.251.7.0/24","Gateway":"10.251.7.999"}]}}`:                                        "invalid network config:\ninvalid gateway 10.251.7.999: invalid address",
		`{"Name":"gw","IPAM":{"Config":[{"Subnet":"10.251.7.0/24","IPRange":"10.251.8.0/25","AuxiliaryAddresses":{"a":"10.9.9.9"}}]}}`: "invalid network config:\n* invalid ip-range 10.251.8.0/25: parent subnet 10.251.7.0/24 doesn't contain ip-range\n* invalid auxiliary address a: parent subnet 10.251.7.0/24 doesn't contain this address",
	} {
		status, got := httpDo(t, "POST", "/networks/create", body)
		var e struct{ Message string }
		json.Unmarshal([]byte(got), &e)
		if status != 400 || e.Message != want {
			t.Errorf("POST %s: %d %q, want %q", body, status, e.Message, want)
		}
	}
	if after := names(t); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("failed creates changed the network list:\nbefore %v\nafter  %v", before, after)
	}
}

func TestRemoveErrors(t *testing.T) {
	if got := dockerErr(t, "network", "rm", "bridge"); got != "Error response from daemon: bridge is a pre-defined network and cannot be removed" {
		t.Errorf("rm bridge: %q", got)
	}
	if got := dockerErr(t, "network", "rm", "nope-no-such"); got != "Error response from daemon: network nope-no-such not found" {
		t.Errorf("rm missing: %q", got)
	}
	if got := dockerErr(t, "network", "inspect", "nope-no-such"); !strings.Contains(got, "network nope-no-such not found") {
		t.Errorf("inspect missing: %q", got)
	}
	if status, _ := httpDo(t, "DELETE", "/networks/host", ""); status != 403 {
		t.Errorf("DELETE host: %d", status)
	}
	if status, _ := httpDo(t, "GET", "/networks/nope-no-such", ""); status != 404 {
		t.Errorf("GET missing: %d", status)
	}
}

func TestListFilters(t *testing.T) {
	a, b := uniq("fa"), uniq("fb")
	idA := createNet(t, a, "--label", "tier=front", "--label", "x")
	createNet(t, b, "--label", "tier=back")
	check := func(want []string, notWant []string, args ...string) {
		t.Helper()
		got := strings.Join(names(t, args...), " ")
		for _, w := range want {
			if !strings.Contains(" "+got+" ", " "+w+" ") {
				t.Errorf("ls %v: %q lacks %s", args, got, w)
			}
		}
		for _, w := range notWant {
			if strings.Contains(" "+got+" ", " "+w+" ") {
				t.Errorf("ls %v: %q has %s", args, got, w)
			}
		}
	}
	check([]string{a}, []string{b, "bridge"}, "--filter", "label=tier=front")
	check([]string{a, b}, []string{"bridge"}, "--filter", "label=tier")
	check([]string{a}, []string{b}, "--filter", "name="+a)
	check([]string{a}, []string{b}, "--filter", "id="+idA[:10])
	check([]string{a, b}, []string{"bridge", "host", "none"}, "--filter", "type=custom")
	check([]string{"bridge", "host", "none"}, []string{a, b}, "--filter", "type=builtin")
	check([]string{"none"}, []string{"bridge", "host", a}, "--filter", "driver=null")
	check([]string{a, b}, []string{"bridge"}, "--filter", "dangling=true")
	check([]string{"bridge", "host", "none"}, []string{a, b}, "--filter", "dangling=false")
	check([]string{a, b, "bridge"}, nil, "--filter", "scope=local")
	check(nil, []string{a, b, "bridge"}, "--filter", "scope=swarm")
	if got := dockerErr(t, "network", "ls", "--filter", "colour=red"); got != "Error response from daemon: invalid filter 'colour'" {
		t.Errorf("bad filter: %q", got)
	}
	if got := dockerErr(t, "network", "ls", "--filter", "type=odd"); !strings.Contains(got, "invalid filter: 'type'='odd'") {
		t.Errorf("bad type: %q", got)
	}
	if got := dockerErr(t, "network", "ls", "--filter", "dangling=maybe"); !strings.Contains(got, `invalid value for filter 'dangling'`) {
		t.Errorf("bad dangling: %q", got)
	}
	// -q prints short IDs.
	q := d.DockerT(t, "network", "ls", "-q", "--filter", "name="+a)
	if strings.TrimSpace(q) != idA[:12] {
		t.Errorf("ls -q: %q", q)
	}
}

func TestPrune(t *testing.T) {
	keep, gone := uniq("keep"), uniq("gone")
	createNet(t, keep, "--label", "prune=no")
	createNet(t, gone, "--label", "prune=yes")
	out := d.DockerT(t, "network", "prune", "-f", "--filter", "label=prune=yes")
	if !strings.Contains(out, "Deleted Networks:") || !strings.Contains(out, gone) || strings.Contains(out, keep) {
		t.Fatalf("prune output:\n%s", out)
	}
	ls := names(t)
	if strings.Contains(strings.Join(ls, " "), gone) || !strings.Contains(strings.Join(ls, " "), keep) {
		t.Fatalf("after prune: %v", ls)
	}
	status, body := httpDo(t, "POST", `/networks/prune?filters={"until":["1h"]}`, "")
	if status != 200 || !strings.Contains(body, `"NetworksDeleted":[]`) {
		t.Fatalf("prune until=1h (nothing that old): %d %s", status, body)
	}
	if status, _ := httpDo(t, "POST", `/networks/prune?filters={"driver":["bridge"]}`, ""); status != 400 {
		t.Fatalf("prune with a bad filter: %d", status)
	}
}

func TestConnectUnknownContainer(t *testing.T) {
	name := uniq("conn")
	createNet(t, name)
	if got := dockerErr(t, "network", "connect", name, "no-such-ctr"); got != "Error response from daemon: No such container: no-such-ctr" {
		t.Errorf("connect: %q", got)
	}
	if got := dockerErr(t, "network", "disconnect", name, "no-such-ctr"); got != "Error response from daemon: No such container: no-such-ctr" {
		t.Errorf("disconnect: %q", got)
	}
	if got := dockerErr(t, "network", "connect", "no-such-net", "no-such-ctr"); got != "Error response from daemon: network no-such-net not found" {
		t.Errorf("connect to missing network: %q", got)
	}
}

func TestListShapeByVersion(t *testing.T) {
	_, old := httpDo(t, "GET", "/v1.50/networks?filters={\"name\":[\"^none$\"]}", "")
	if !strings.Contains(old, `"Containers":{}`) || strings.Contains(old, `"Status"`) {
		t.Errorf("1.50 list: %s", old)
	}
	_, cur := httpDo(t, "GET", "/v1.52/networks?filters={\"name\":[\"^none$\"]}", "")
	if strings.Contains(cur, `"Containers"`) {
		t.Errorf("1.52 list: %s", cur)
	}
}
