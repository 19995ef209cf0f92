package network

import (
	"fmt"
	"testing"
)

// EnableIPv4 came with API 1.48: an older client's false is ignored, as
// dockerd ignores it (moby's TestDisableIPv4/old_api_ipv4_not_disabled).
func TestEnableIPv4FromAPI148(t *testing.T) {
	for _, tc := range []struct {
		version string
		want4   bool
	}{{"1.46", true}, {"1.48", false}} {
		name := uniq("e4")
		body := fmt.Sprintf(`{"Name":%q,"EnableIPv4":false,"EnableIPv6":true,"IPAM":{"Config":[{"Subnet":%q}]}}`, name, v6Subnet())
		resp, out := d.Do(t, "POST", "/v"+tc.version+"/networks/create", body)
		if resp.StatusCode != 201 {
			t.Fatalf("API %s: %d %s", tc.version, resp.StatusCode, out)
		}
		t.Cleanup(func() { d.Docker("network", "rm", name) })
		nw := inspect(t, name)
		has4 := false
		for _, c := range nw.IPAM.Config {
			has4 = has4 || c.Subnet.Addr().Is4()
		}
		if nw.EnableIPv4 != tc.want4 || has4 != tc.want4 {
			t.Fatalf("API %s: EnableIPv4 %v, IPv4 subnet %v; want %v", tc.version, nw.EnableIPv4, has4, tc.want4)
		}
	}
}
