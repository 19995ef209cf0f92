package network

import (
	"strconv"

	"github.com/berthd/berth/network/ipam"
)

// bridgeGatewayless marks a bridge network's IPAM requests of a family
// that gets no gateway address, as dockerd's GetSkipGwAlloc: gateway
// mode isolated, or an internal network with inhibit_ipv4 (nothing would
// route through the address). Such a family's subnet keeps every address
// for containers (a /31 has two).
func bridgeGatewayless(opts map[string]string, internal bool, reqs []ipam.Request) []ipam.Request {
	inhibit, _ := strconv.ParseBool(opts[OptInhibitIPv4])
	skip4 := opts[OptGwModeIPv4] == GwModeIsolated || inhibit && internal
	skip6 := opts[OptGwModeIPv6] == GwModeIsolated
	for fam, skip := range map[int]bool{4: skip4, 6: skip6} {
		if !skip {
			continue
		}
		for i := range reqs {
			if reqs[i].Subnet.IsValid() && reqs[i].Subnet.Addr().Is6() == (fam == 6) {
				reqs[i].NoGateway = true
			}
		}
		reqs = append(reqs, ipam.Request{NoGateway: true, Family: fam})
	}
	return reqs
}
