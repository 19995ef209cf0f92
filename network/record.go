package network

import (
	"maps"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/network"
)

// Driver names.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// Names of the predefined networks.
const (
	NameBridge = "bridge"
	NameHost   = "host"
	NameNone   = "none"
)

// Bridge driver options, as dockerd spells them.
const (
	OptBridgeName    = "com.docker.network.bridge.name"
	OptEnableICC     = "com.docker.network.bridge.enable_icc"
	OptEnableIPMasq  = "com.docker.network.bridge.enable_ip_masquerade"
	OptHostBindingV4 = "com.docker.network.bridge.host_binding_ipv4"
	OptDefaultBridge = "com.docker.network.bridge.default_bridge"
	OptMTU           = "com.docker.network.driver.mtu"
	OptEnableIPv4    = "com.docker.network.enable_ipv4"
	OptEnableIPv6    = "com.docker.network.enable_ipv6"
	OptGwModeIPv4    = "com.docker.network.bridge.gateway_mode_ipv4"
	OptGwModeIPv6    = "com.docker.network.bridge.gateway_mode_ipv6"
	OptTrustedIfaces = "com.docker.network.bridge.trusted_host_interfaces"
	OptInhibitIPv4   = "com.docker.network.bridge.inhibit_ipv4"
)

// Gateway modes of a bridge network's address family, as dockerd names
// them (options gateway_mode_ipv4 and gateway_mode_ipv6).
const (
	GwModeNAT         = "nat"
	GwModeUnprotected = "nat-unprotected"
	GwModeRouted      = "routed"
	GwModeIsolated    = "isolated"
)

// gwMode is the network's gateway mode for a family; nat by default.
func (r *Record) gwMode(v6 bool) string {
	k := OptGwModeIPv4
	if v6 {
		k = OptGwModeIPv6
	}
	if m := r.Options[k]; m != "" {
		return m
	}
	return GwModeNAT
}

// inhibitIPv4 is the inhibit_ipv4 option: berth does not put the IPv4
// gateway address on the bridge (someone else manages it).
func (r *Record) inhibitIPv4() bool {
	b, _ := strconv.ParseBool(r.Options[OptInhibitIPv4])
	return b
}

// trustedIfaces are the host interfaces whose traffic may address the
// network's containers directly (colon-separated, as dockerd reads them).
func (r *Record) trustedIfaces() []string {
	return strings.FieldsFunc(r.Options[OptTrustedIfaces], func(c rune) bool { return c == ':' })
}

// IsPredefined reports whether name is one of the networks a user cannot
// create or remove (dockerd also reserves "default").
func IsPredefined(name string) bool {
	switch name {
	case NameBridge, NameHost, NameNone, "default":
		return true
	}
	return false
}

// Record is one network as berth stores it.
type Record struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Driver     string    `json:"driver"`
	Created    time.Time `json:"created"`
	EnableIPv4 bool      `json:"enableIPv4"`
	EnableIPv6 bool      `json:"enableIPv6"`
	Internal   bool      `json:"internal,omitempty"`
	Attachable bool      `json:"attachable,omitempty"`
	Ingress    bool      `json:"ingress,omitempty"`
	ConfigOnly bool      `json:"configOnly,omitempty"`
	ConfigFrom string    `json:"configFrom,omitempty"`

	IPAMDriver  string            `json:"ipamDriver"`
	IPAMOptions map[string]string `json:"ipamOptions,omitempty"`
	// IPAMConfig is what inspect shows: the requested config with the
	// subnet and gateway IPAM chose filled in, as dockerd reports it.
	IPAMConfig []network.IPAMConfig `json:"ipamConfig,omitempty"`

	Options map[string]string `json:"options,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`

	// Bridge is the Linux bridge of a bridge network.
	Bridge string `json:"bridge,omitempty"`
	// Parent is the host link of a macvlan or ipvlan network: the one
	// given, or the dummy berth made when none was; ParentCreated says
	// berth made it, so that removing the last network on it deletes it.
	Parent        string `json:"parent,omitempty"`
	ParentCreated bool   `json:"parentCreated,omitempty"`
	// Predefined marks bridge, host and none.
	Predefined bool `json:"predefined,omitempty"`

	Endpoints map[string]*Endpoint `json:"endpoints,omitempty"`
}

// Endpoint is one container's attachment to a network.
type Endpoint struct {
	ID          string           `json:"id"`
	NetworkID   string           `json:"networkID"`
	ContainerID string           `json:"containerID"`
	Name        string           `json:"name"`
	Aliases     []string         `json:"aliases,omitempty"`
	IPv4        netip.Prefix     `json:"ipv4,omitzero"`
	IPv6        netip.Prefix     `json:"ipv6,omitzero"`
	Gateway4    netip.Addr       `json:"gateway4,omitzero"`
	Gateway6    netip.Addr       `json:"gateway6,omitzero"`
	MAC         net.HardwareAddr `json:"mac,omitempty"`
	// HostIface is the host end of the veth pair.
	HostIface string `json:"hostIface,omitempty"`
	// IfName is the device's name in the container: the next endpoint of
	// the container takes the first free ethN, and macvlan and ipvlan
	// endpoints, which have no host end, are deleted by it.
	IfName string `json:"ifName,omitempty"`
	// NetnsPath is where the container's end lives, for DNS and detach.
	NetnsPath string `json:"netnsPath,omitempty"`
	MTU       int    `json:"mtu,omitempty"`
	// GwPriority ranks the container's endpoints for its default
	// gateway (EndpointSettings.GwPriority, highest first).
	GwPriority int `json:"gwPriority,omitempty"`
}

// Settings renders the endpoint as a container's
// NetworkSettings.Networks entry.
func (e *Endpoint) Settings() *network.EndpointSettings {
	s := &network.EndpointSettings{
		NetworkID:   e.NetworkID,
		EndpointID:  e.ID,
		Aliases:     append([]string(nil), e.Aliases...),
		MacAddress:  network.HardwareAddr(e.MAC),
		Gateway:     e.Gateway4,
		IPv6Gateway: e.Gateway6,
		DNSNames:    append([]string{e.Name}, e.Aliases...),
	}
	if e.IPv4.IsValid() {
		s.IPAddress, s.IPPrefixLen = e.IPv4.Addr(), e.IPv4.Bits()
	}
	if e.IPv6.IsValid() {
		s.GlobalIPv6Address, s.GlobalIPv6PrefixLen = e.IPv6.Addr(), e.IPv6.Bits()
	}
	return s
}

// Network renders the record's API fields.
func (r *Record) Network() network.Network {
	ipamCfg := make([]network.IPAMConfig, 0, len(r.IPAMConfig))
	for _, c := range r.IPAMConfig {
		c.AuxAddress = maps.Clone(c.AuxAddress)
		ipamCfg = append(ipamCfg, c)
	}
	opts := maps.Clone(r.Options)
	if opts == nil {
		opts = map[string]string{}
	}
	labels := maps.Clone(r.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	return network.Network{
		Name:       r.Name,
		ID:         r.ID,
		Created:    r.Created,
		Scope:      "local",
		Driver:     r.Driver,
		EnableIPv4: r.EnableIPv4,
		EnableIPv6: r.EnableIPv6,
		IPAM: network.IPAM{
			Driver:  r.IPAMDriver,
			Options: maps.Clone(r.IPAMOptions),
			Config:  ipamCfg,
		},
		Internal:   r.Internal,
		Attachable: r.Attachable,
		Ingress:    r.Ingress,
		ConfigFrom: network.ConfigReference{Network: r.ConfigFrom},
		ConfigOnly: r.ConfigOnly,
		Options:    opts,
		Labels:     labels,
	}
}

// Containers renders the endpoints as inspect's Containers map.
func (r *Record) Containers() map[string]network.EndpointResource {
	out := map[string]network.EndpointResource{}
	for _, e := range r.Endpoints {
		out[e.ContainerID] = network.EndpointResource{
			Name:        e.Name,
			EndpointID:  e.ID,
			MacAddress:  network.HardwareAddr(e.MAC),
			IPv4Address: e.IPv4,
			IPv6Address: e.IPv6,
		}
	}
	return out
}

// hostBinding is where the network's ports are published when -p names
// no host address: its host_binding_ipv4 option (--ip for the default
// bridge); zero means every address.
func (r *Record) hostBinding() netip.Addr {
	a, err := netip.ParseAddr(r.Options[OptHostBindingV4])
	if err != nil || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

func (r *Record) clone() *Record {
	c := *r
	c.Options = maps.Clone(r.Options)
	c.Labels = maps.Clone(r.Labels)
	c.IPAMOptions = maps.Clone(r.IPAMOptions)
	c.IPAMConfig = append([]network.IPAMConfig(nil), r.IPAMConfig...)
	c.Endpoints = make(map[string]*Endpoint, len(r.Endpoints))
	for k, e := range r.Endpoints {
		ec := *e
		ec.Aliases = append([]string(nil), e.Aliases...)
		c.Endpoints[k] = &ec
	}
	return &c
}
