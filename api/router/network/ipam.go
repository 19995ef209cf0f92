package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/moby/moby/api/types/network"
)

// rawIPAMConfig is one IPAM config entry with its addresses still as the
// client sent them. The router decodes into it so that a malformed address
// gets dockerd's "invalid network config" message rather than a JSON
// decoding error; parseIPAMConfig turns it into the official type. The
// daemon's network manager then checks how the parsed values fit together.
type rawIPAMConfig struct {
	Subnet     string            `json:"Subnet,omitempty"`
	IPRange    string            `json:"IPRange,omitempty"`
	Gateway    string            `json:"Gateway,omitempty"`
	AuxAddress map[string]string `json:"AuxiliaryAddresses,omitempty"`
}

// parseIPAMConfig converts raw entries, reporting every malformed value
// with dockerd's wording.
func parseIPAMConfig(raw []rawIPAMConfig) ([]network.IPAMConfig, error) {
	var errs []string
	out := make([]network.IPAMConfig, 0, len(raw))
	for _, r := range raw {
		var c network.IPAMConfig
		if r.Subnet != "" {
			p, err := netip.ParsePrefix(r.Subnet)
			if err != nil {
				errs = append(errs, fmt.Sprintf("invalid subnet %s: invalid CIDR block notation", r.Subnet))
				continue
			}
			c.Subnet = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
		}
		if r.IPRange != "" {
			p, err := netip.ParsePrefix(r.IPRange)
			if err != nil {
				errs = append(errs, fmt.Sprintf("invalid ip-range %s: invalid CIDR block notation", r.IPRange))
			} else {
				c.IPRange = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
			}
		}
		if r.Gateway != "" {
			a, err := netip.ParseAddr(r.Gateway)
			if err != nil {
				errs = append(errs, fmt.Sprintf("invalid gateway %s: invalid address", r.Gateway))
			} else {
				c.Gateway = a.Unmap()
			}
		}
		for name, s := range r.AuxAddress {
			a, err := netip.ParseAddr(s)
			if err != nil {
				errs = append(errs, fmt.Sprintf("invalid auxiliary address %s: invalid address", name))
				continue
			}
			if c.AuxAddress == nil {
				c.AuxAddress = map[string]netip.Addr{}
			}
			c.AuxAddress[name] = a.Unmap()
		}
		out = append(out, c)
	}
	switch len(errs) {
	case 0:
		return out, nil
	case 1:
		return nil, errors.New("invalid network config:\n" + errs[0])
	}
	// Several read as dockerd's multierror list.
	return nil, errors.New("invalid network config:\n* " + strings.Join(errs, "\n* "))
}
