package daemon

import "testing"

func TestInterfaceSysctl(t *testing.T) {
	for key, want := range map[string]string{
		"net.ipv4.conf.eth0.forwarding":       "net.ipv4.conf.IFNAME.forwarding eth0",
		"net.ipv6.conf.eth1.accept_ra":        "net.ipv6.conf.IFNAME.accept_ra eth1",
		"net.ipv4.neigh.eth0.gc_stale_time":   "net.ipv4.neigh.IFNAME.gc_stale_time eth0",
		"net.ipv4.conf.all.forwarding":        "",
		"net.ipv4.conf.default.forwarding":    "",
		"net.ipv4.conf.lo.forwarding":         "",
		"net.ipv4.ip_forward":                 "",
		"net.core.somaxconn":                  "",
		"kernel.shmmax":                       "",
		"net.ipv4.tcp_keepalive.probes.extra": "",
	} {
		g, i, ok := interfaceSysctl(key)
		got := ""
		if ok {
			got = g + " " + i
		}
		if got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
}
