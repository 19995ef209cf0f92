package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/network/netif"
)

// ValidateIPAMConfig checks a create request's IPAM configuration the way
// dockerd does (API 1.44+), collecting every problem into one message:
// "invalid network config:\n…". IPv6 entries are ignored unless IPv6 is on.
func ValidateIPAMConfig(cfgs []network.IPAMConfig, enableIPv6 bool) error {
	var errs []error
	for _, cfg := range cfgs {
		fam := 4
		if cfg.Subnet.Addr().Is6() {
			fam = 6
		}
		if !enableIPv6 && fam == 6 {
			continue
		}
		if cfg.Subnet != cfg.Subnet.Masked() {
			errs = append(errs, fmt.Errorf("invalid subnet %s: it should be %s", cfg.Subnet, cfg.Subnet.Masked()))
		}
		if cfg.IPRange.IsValid() {
			rf := 4
			if cfg.IPRange.Addr().Is6() {
				rf = 6
			}
			switch {
			case rf != fam:
				errs = append(errs, fmt.Errorf("invalid ip-range %s: parent subnet is an IPv%d block", cfg.IPRange, fam))
			default:
				if cfg.IPRange.Bits() < cfg.Subnet.Bits() {
					errs = append(errs, fmt.Errorf("invalid ip-range %s: CIDR block is bigger than its parent subnet %s", cfg.IPRange, cfg.Subnet))
				}
				if cfg.IPRange != cfg.IPRange.Masked() {
					errs = append(errs, fmt.Errorf("invalid ip-range %s: it should be %s", cfg.IPRange, cfg.IPRange.Masked()))
				}
				if !cfg.Subnet.Overlaps(cfg.IPRange) {
					errs = append(errs, fmt.Errorf("invalid ip-range %s: parent subnet %s doesn't contain ip-range", cfg.IPRange, cfg.Subnet))
				}
			}
		}
		if err := validateAddress(cfg.Gateway, cfg.Subnet, fam); err != nil {
			errs = append(errs, fmt.Errorf("invalid gateway %s: %w", cfg.Gateway, err))
		}
		for name, aux := range cfg.AuxAddress {
			if err := validateAddress(aux, cfg.Subnet, fam); err != nil {
				errs = append(errs, fmt.Errorf("invalid auxiliary address %s: %w", name, err))
			}
		}
	}
	return joinInvalid(errs)
}

func validateAddress(a netip.Addr, subnet netip.Prefix, fam int) error {
	if !a.IsValid() {
		return nil
	}
	af := 4
	if a.Is6() {
		af = 6
	}
	if af != fam {
		return fmt.Errorf("parent subnet is an IPv%d block", fam)
	}
	if !subnet.Contains(a) {
		return fmt.Errorf("parent subnet %s doesn't contain this address", subnet)
	}
	return nil
}

// joinInvalid formats errors as dockerd's multierror does: one error
// alone, several as a "* " list.
func joinInvalid(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("invalid network config:\n%s", strings.TrimSpace(errs[0].Error()))
	}
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = strings.ReplaceAll(e.Error(), "\n", "\n\t")
	}
	return errors.New("invalid network config:\n* " + strings.Join(parts, "\n* "))
}

// linkLocal6 is the prefix Linux gives every interface's link-local
// address.
var linkLocal6 = netip.MustParsePrefix("fe80::/64")

// ValidateIPv6Subnet is the bridge driver's check of an IPv6 subnet, with
// dockerd's messages. Like dockerd 28 it accepts prefixes longer than
// /64: addresses come from IPAM, not from SLAAC. A prefix inside
// fe80::/64 other than fe80::/64 itself would give every interface two
// link-local addresses of different lengths.
func ValidateIPv6Subnet(p netip.Prefix) error {
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		return fmt.Errorf("'%s' is not a valid IPv6 subnet", p)
	}
	if p.Addr().IsMulticast() {
		return fmt.Errorf("multicast subnet '%s' is not allowed", p)
	}
	if p.Masked() != linkLocal6 && linkLocal6.Overlaps(p) {
		return fmt.Errorf("'%s' clashes with the Link-Local prefix 'fe80::/64'", p)
	}
	return nil
}

// ValidateEndpointSysctl checks one of an endpoint's interface sysctls
// (com.docker.network.endpoint.sysctls), "net.X.Y.IFNAME.Z=V".
func ValidateEndpointSysctl(sc string) error {
	_, _, err := netif.SysctlPath(sc, "eth0")
	return err
}
