package cni

import (
	"errors"
	"net"
	"slices"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// podIPs reads the pod's addresses from the list's final result, converted
// to the current result version whatever version the plugins spoke. An
// address on a host-side interface (one without a sandbox) is not the
// pod's. IPv4 comes first: CRI's primary pod IP is the first one, and
// kubelet expects the IPv4 one there on a dual-stack pod.
func podIPs(res types.Result) ([]net.IP, error) {
	if res == nil {
		return nil, errors.New("the network returned no result")
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, c := range r.IPs {
		if c == nil || c.Address.IP == nil {
			continue
		}
		if c.Interface != nil {
			i := *c.Interface
			if i >= 0 && i < len(r.Interfaces) && r.Interfaces[i].Sandbox == "" {
				continue
			}
		}
		ip := c.Address.IP
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		ips = append(ips, ip)
	}
	if len(ips) == 0 {
		return nil, errors.New("the network gave the pod no IP address")
	}
	slices.SortStableFunc(ips, func(a, b net.IP) int {
		return family(a) - family(b)
	})
	return ips, nil
}

func family(ip net.IP) int {
	if ip.To4() != nil {
		return 4
	}
	return 6
}
