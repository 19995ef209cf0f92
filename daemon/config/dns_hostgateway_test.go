package config

import (
	"strings"
	"testing"
)

func TestHostGatewayAddrs(t *testing.T) {
	c := &Config{HostGatewayIPs: []string{"192.0.2.1", "fd00::1"}}
	got, err := c.HostGatewayAddrs()
	if err != nil || len(got) != 2 || got[0].String() != "192.0.2.1" || got[1].String() != "fd00::1" {
		t.Fatalf("two families: %v %v", got, err)
	}
	// dockerd's older single-address key.
	c = &Config{HostGatewayIP: "192.0.2.9"}
	if got, err := c.HostGatewayAddrs(); err != nil || len(got) != 1 || got[0].String() != "192.0.2.9" {
		t.Fatalf("host-gateway-ip: %v %v", got, err)
	}
	for _, bad := range []struct {
		ips  []string
		want string
	}{
		{[]string{"192.0.2.1", "192.0.2.2"}, "only one IPv4 host gateway IP address can be specified"},
		{[]string{"fd00::1", "fd00::2"}, "only one IPv6 host gateway IP address can be specified"},
		{[]string{"nope"}, "invalid host-gateway-ip"},
	} {
		c := &Config{HostGatewayIPs: bad.ips}
		if _, err := c.HostGatewayAddrs(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: %v, want %q", bad.ips, err, bad.want)
		}
	}
}
