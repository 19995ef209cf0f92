package network

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Bad advertise options are refused at create with dockerd's messages.
func TestValidateAdvertiseOpts(t *testing.T) {
	for opts, want := range map[[2]string]string{
		{OptAdvertiseAddrMs, "99"}:          "com.docker.network.advertise_addr_ms must be in the range 100 to 2000",
		{OptAdvertiseAddrMs, "2001"}:        "com.docker.network.advertise_addr_ms must be in the range 100 to 2000",
		{OptAdvertiseAddrMs, "nonsense"}:    `value for option com.docker.network.advertise_addr_ms "nonsense" must be integer milliseconds`,
		{OptAdvertiseAddrNMsgs, "-1"}:       "com.docker.network.advertise_addr_nmsgs must be in the range 0 to 3",
		{OptAdvertiseAddrNMsgs, "4"}:        "com.docker.network.advertise_addr_nmsgs must be in the range 0 to 3",
		{OptAdvertiseAddrNMsgs, "nonsense"}: `value for option com.docker.network.advertise_addr_nmsgs "nonsense" must be an integer`,
		{OptAdvertiseAddrNMsgs, "0"}:        "",
		{OptAdvertiseAddrMs, "100"}:         "",
	} {
		err := validateAdvertiseOpts(map[string]string{opts[0]: opts[1]})
		if want == "" && err != nil || want != "" && (err == nil || err.Error() != want) {
			t.Errorf("%s=%s: %v, want %q", opts[0], opts[1], err, want)
		}
	}
	if n, iv := advertiseSettings(nil); n != 3 || iv != time.Second {
		t.Errorf("defaults: %d %s", n, iv)
	}
	if n, iv := advertiseSettings(map[string]string{OptAdvertiseAddrNMsgs: "1", OptAdvertiseAddrMs: "250"}); n != 1 || iv != 250*time.Millisecond {
		t.Errorf("set: %d %s", n, iv)
	}
}

// The default gateway goes to the highest GwPriority, then a network that
// is not internal, then dual-stack, then the network name, as in dockerd.
func TestGatewayOrder(t *testing.T) {
	c := func(net string, prio int, internal, has4, has6 bool) gwCandidate {
		return gwCandidate{ep: &Endpoint{GwPriority: prio}, net: net, internal: internal, has4: has4, has6: has6}
	}
	cands := []gwCandidate{
		c("a-internal", 0, true, true, true),
		c("b-v4", 0, false, true, false),
		c("z-dual", 0, false, true, true),
		c("c-dual", 0, false, true, true),
		c("y-prio", 1, false, true, false),
		c("n-none", 0, false, false, false),
	}
	slices.SortFunc(cands, gatewayOrder)
	var got []string
	for _, x := range cands {
		got = append(got, x.net)
	}
	if want := "y-prio c-dual z-dual b-v4 n-none a-internal"; strings.Join(got, " ") != want {
		t.Fatalf("order %v, want %s", got, want)
	}
}
