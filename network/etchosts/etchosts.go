package etchosts

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// HostGateway is the special --add-host address meaning "the host, as
// seen from the container".
const HostGateway = "host-gateway"

// Entry is one hosts line.
type Entry struct {
	Addr  netip.Addr
	Names []string
}

// ParseExtraHost reads one HostConfig.ExtraHosts entry: "name:ip" (the API
// form; IPv6 after the first colon) or "name=ip" (the CLI's newer form).
// "host-gateway" becomes each address of hostGateway.
func ParseExtraHost(s string, hostGateway []netip.Addr) ([]Entry, error) {
	name, addr, ok := strings.Cut(s, "=")
	if !ok {
		name, addr, ok = strings.Cut(s, ":")
	}
	if !ok || name == "" || addr == "" {
		return nil, fmt.Errorf("invalid extra host %q: expected name:ip", s)
	}
	if addr == HostGateway {
		if len(hostGateway) == 0 {
			return nil, fmt.Errorf("unable to derive the IP value for host-gateway")
		}
		out := make([]Entry, 0, len(hostGateway))
		for _, g := range hostGateway {
			out = append(out, Entry{Addr: g, Names: []string{name}})
		}
		return out, nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"))
	if err != nil {
		return nil, fmt.Errorf("invalid IP address in add-host: %q", addr)
	}
	return []Entry{{Addr: a, Names: []string{name}}}, nil
}

// Params are the inputs of Build.
type Params struct {
	// IPv6 includes the IPv6 loopback and multicast names and the IPv6
	// extra entries (dockerd drops them when the container has no IPv6).
	IPv6 bool
	// Extra are the --add-host entries, already parsed.
	Extra []Entry
	// Self are the container's own addresses; Hostname and Domainname
	// name them. With no address (--network none/host) no line is added.
	Self       []netip.Addr
	Hostname   string
	Domainname string
}

// Build renders /etc/hosts.
func Build(p Params) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n")
	if p.IPv6 {
		b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
		b.WriteString("fe00::\tip6-localnet\n")
		b.WriteString("ff00::\tip6-mcastprefix\n")
		b.WriteString("ff02::1\tip6-allnodes\n")
		b.WriteString("ff02::2\tip6-allrouters\n")
	}
	for _, e := range p.Extra {
		// Without IPv6 the container could not use an IPv6 entry
		// (host-gateway's IPv6 address, an --add-host one): dockerd
		// leaves them out.
		if e.Addr.Is6() && !e.Addr.Is4In6() && !p.IPv6 {
			continue
		}
		fmt.Fprintf(&b, "%s\t%s\n", e.Addr, strings.Join(e.Names, " "))
	}
	if p.Hostname != "" {
		// The fully qualified name, then the bare one: a dotted hostname
		// (--hostname c1.example) counts as qualified, as with dockerd.
		names := p.Hostname
		if p.Domainname != "" {
			names += "." + p.Domainname
		}
		if short, _, ok := strings.Cut(names, "."); ok {
			names += " " + short
		}
		for _, a := range p.Self {
			fmt.Fprintf(&b, "%s\t%s\n", a, names)
		}
	}
	return b.Bytes()
}

// Hostname renders /etc/hostname.
func Hostname(hostname string) []byte { return []byte(hostname + "\n") }
