package network

import (
	"fmt"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// --ip6tables=false, as dockerd takes it: no IPv6 NAT rules (no
// masquerade, no DNAT); a port published on :: is still served, by the
// userland proxy, and IPv4 is NATed as before.
func TestIP6TablesFalseNoIPv6NAT(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{Args: poolArgs}, "--ip6tables=false")
	dd.LoadTestImages(t)
	n := uniq("n6")
	sub := v6Subnet()
	if _, err := fwCreateNet(t, dd, n, "--ipv6", "--subnet", sub.String()); err != nil {
		t.Fatal(err)
	}
	id := runD(t, dd, "--network", n, "-p", "8080", img, httpd[0], httpd[1], httpd[2], httpd[3], httpd[4], httpd[5])
	p6 := v6HostPort(t, dd, id, "8080/tcp", "::")
	ctr6 := v6Addr(t, dd, id, n)
	tbl := v6Table(t, dd)
	if strings.Contains(tbl, sub.Masked().String()) || strings.Contains(tbl, ctr6.String()) {
		t.Fatalf("IPv6 NAT rules with --ip6tables=false:\n%s", tbl)
	}
	if !strings.Contains(tbl, "masquerade") {
		t.Fatalf("no IPv4 masquerade:\n%s", tbl)
	}
	gws := dd.DockerT(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{end}}", n)
	gw6 := ""
	for _, f := range strings.Fields(gws) {
		if strings.Contains(f, ":") {
			gw6 = f
		}
	}
	for _, url := range []string{"http://[::1]:" + p6, fmt.Sprintf("http://[%s]:%s", gw6, p6)} {
		if got := hostGet(t, url+"/hostname"); !strings.Contains(got, id[:12]) {
			t.Fatalf("GET %s (through the proxy): %q", url, got)
		}
	}
}
