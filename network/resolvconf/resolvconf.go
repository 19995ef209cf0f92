package resolvconf

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Well-known paths.
const (
	DefaultPath = "/etc/resolv.conf"
	// ResolvedPath lists systemd-resolved's real upstreams, which it hides
	// behind the 127.0.0.53 stub in DefaultPath.
	ResolvedPath = "/run/systemd/resolve/resolv.conf"
	// InternalNameserver is the embedded DNS server's address inside a
	// container.
	InternalNameserver = "127.0.0.11"
)

// Defaults used when the host offers no usable nameserver, as dockerd.
var (
	DefaultIPv4 = []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("8.8.4.4")}
	DefaultIPv6 = []netip.Addr{netip.MustParseAddr("2001:4860:4860::8888"), netip.MustParseAddr("2001:4860:4860::8844")}
)

// File is a parsed resolv.conf.
type File struct {
	Nameservers []netip.Addr
	Search      []string
	Options     []string
	// Other keeps lines berth does not interpret (sortlist…).
	Other []string
	// Invalid are the nameserver lines that are no address, which the
	// generated file names in a comment, as dockerd's does.
	Invalid []string
}

// Parse reads resolv.conf content. Unparseable nameserver lines are
// dropped; the last search/domain line wins, as in the C library.
func Parse(b []byte) File {
	var f File
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		fields := strings.Fields(line)
		switch fields[0] {
		case "nameserver":
			if len(fields) > 1 {
				// Strip an IPv6 zone-less scope like fe80::1%eth0 only if
				// it parses.
				if a, err := netip.ParseAddr(fields[1]); err == nil {
					f.Nameservers = append(f.Nameservers, a)
				} else {
					f.Invalid = append(f.Invalid, fields[1])
				}
			}
		case "search", "domain":
			// domain is the old name of search; the last line wins.
			if len(fields) > 1 {
				f.Search = append([]string(nil), fields[1:]...)
			}
		case "options":
			f.Options = append(f.Options, fields[1:]...)
		default:
			f.Other = append(f.Other, line)
		}
	}
	return f
}

// EnvTestPath names another host resolv.conf, as dockerd's test hook of the
// same name does: moby's integration suite gives its daemons one that
// points at a DNS server of its own.
const EnvTestPath = "DOCKER_TEST_RESOLV_CONF_PATH"

// HostPath is the host file to base the resolv.conf of a container on
// the default bridge on: the systemd-resolved upstream list when the host
// uses its 127.0.0.53 stub and that list exists, else /etc/resolv.conf.
// Containers with the embedded DNS server or the host's network start from
// DefaultPath (HostPathFor).
func HostPath() string {
	if p := os.Getenv(EnvTestPath); p != "" {
		return p
	}
	b, err := os.ReadFile(DefaultPath)
	if err != nil {
		return DefaultPath
	}
	f := Parse(b)
	if len(f.Nameservers) == 1 && f.Nameservers[0] == netip.MustParseAddr("127.0.0.53") {
		if _, err := os.Stat(ResolvedPath); err == nil {
			return ResolvedPath
		}
	}
	return DefaultPath
}

// HostPathFor is the host file a container's resolv.conf starts from in
// mode m, as dockerd picks it: the embedded DNS server forwards to what
// /etc/resolv.conf names (a local stub included, from the host's
// namespace), and a container on the host's network copies that file.
func HostPathFor(m Mode) string {
	if m == ModeLegacy {
		return HostPath()
	}
	if p := os.Getenv(EnvTestPath); p != "" {
		return p
	}
	return DefaultPath
}

// Mode is how a container's resolv.conf relates to the host's.
type Mode int

const (
	// ModeLegacy is a container on the default bridge (or none): the
	// host's servers minus those it cannot reach.
	ModeLegacy Mode = iota
	// ModeInternal is a container with the embedded DNS server: it
	// names 127.0.0.11, and the host's servers become upstreams.
	ModeInternal
	// ModeHostNetwork is a container on the host's network: the host's
	// file with the overrides alone.
	ModeHostNetwork
)

// Params are the inputs of Build.
type Params struct {
	// Host is the host's resolv.conf content and HostPath where it came
	// from (recorded in a comment).
	Host     []byte
	HostPath string
	// DNS, DNSSearch and DNSOptions are --dns, --dns-search and
	// --dns-option (container first, else daemon config).
	DNS        []netip.Addr
	DNSSearch  []string
	DNSOptions []string
	Mode       Mode
	// IPv6 allows IPv6 nameservers and defaults (ModeLegacy).
	IPv6 bool
}

// Upstream is a server the embedded DNS server forwards to.
type Upstream struct {
	Addr netip.Addr
	// HostNS says the query leaves from the host's namespace: true for
	// the host's own servers (a loopback stub is only reachable there),
	// false for --dns servers, which are asked from the container's
	// namespace (they may be on one of its networks, internal ones too).
	HostNS bool
}

// String is how the generated file names it: host(addr) when asked from
// the host's namespace.
func (u Upstream) String() string {
	if u.HostNS {
		return "host(" + u.Addr.String() + ")"
	}
	return u.Addr.String()
}

// Result is a built resolv.conf.
type Result struct {
	Content []byte
	// Upstreams are the servers the embedded DNS server forwards to
	// (ModeInternal only), in order.
	Upstreams []Upstream
	// NdotsSet says the host or the overrides set ndots: the embedded
	// server then answers single-label names it does not know with an
	// empty answer, so that the client tries its search domains, instead
	// of forwarding them.
	NdotsSet bool
}

// header is the first lines of every generated file, dockerd's own words:
// clients and moby's tests compare them.
const header = `# Generated by Docker Engine.
# This file can be edited; Docker Engine will not make further changes once it
# has been modified.`

// option is the value of the last options entry named name.
func option(options []string, name string) (string, bool) {
	for i := len(options) - 1; i >= 0; i-- {
		k, v, _ := strings.Cut(options[i], ":")
		if k == name {
			return v, true
		}
	}
	return "", false
}

// validNdots drops ndots options that are no count, before the embedded
// server's own ndots:0 is added where none is left.
func validNdots(options []string) []string {
	var out []string
	for _, o := range options {
		if k, v, ok := strings.Cut(o, ":"); k == "ndots" {
			if n, err := strconv.Atoi(v); !ok || err != nil || n < 0 {
				continue
			}
		}
		out = append(out, o)
	}
	return out
}

// Build makes a container's resolv.conf as dockerd writes it, comments
// included.
func Build(p Params) Result {
	host := Parse(p.Host)
	servers := host.Nameservers
	search, options := host.Search, host.Options
	ndotsFrom := ""
	if _, ok := option(options, "ndots"); ok {
		ndotsFrom = "host"
	}
	var overrides []string
	nsOverride := len(p.DNS) > 0
	if nsOverride {
		servers = p.DNS
		overrides = append(overrides, "nameservers")
	}
	if len(p.DNSSearch) > 0 {
		// "--dns-search ." means no search domains at all.
		search = slices.DeleteFunc(slices.Clone(p.DNSSearch), func(s string) bool { return s == "." })
		overrides = append(overrides, "search")
	}
	if len(p.DNSOptions) > 0 {
		options = slices.Clone(p.DNSOptions)
		ndotsFrom = ""
		if _, ok := option(options, "ndots"); ok {
			ndotsFrom = "override"
		}
		overrides = append(overrides, "options")
	}

	var res Result
	var warnings []string
	transform := ""
	switch p.Mode {
	case ModeInternal:
		transform = "internal resolver"
		for _, s := range servers {
			res.Upstreams = append(res.Upstreams, Upstream{Addr: s, HostNS: !nsOverride})
		}
		servers = []netip.Addr{netip.MustParseAddr(InternalNameserver)}
		_, res.NdotsSet = option(options, "ndots")
		// ndots:0 sends single-label names (container names) to the
		// embedded server first.
		options = validNdots(options)
		if _, ok := option(options, "ndots"); !ok {
			options = append(options, "ndots:0")
			ndotsFrom = "internal"
		}
		if len(res.Upstreams) == 0 {
			warnings = append(warnings, "NO EXTERNAL NAMESERVERS DEFINED")
		}
	case ModeLegacy:
		transform = "legacy"
		if !nsOverride {
			// A loopback server on the host is not reachable from the
			// container's own namespace.
			servers = slices.DeleteFunc(slices.Clone(servers), func(s netip.Addr) bool {
				return s.IsLoopback() || s.Is6() && !p.IPv6
			})
			if len(servers) == 0 {
				servers = append(servers, DefaultIPv4...)
				if p.IPv6 {
					servers = append(servers, DefaultIPv6...)
				}
				warnings = append(warnings, "Used default nameservers.")
			}
		}
	}

	var b bytes.Buffer
	b.WriteString(header + "\n\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	for _, o := range host.Other {
		b.WriteString(o + "\n")
	}
	src := p.HostPath
	if src == "" {
		src = DefaultPath
	}
	fmt.Fprintf(&b, "\n# Based on host file: '%s'", src)
	if transform != "" {
		fmt.Fprintf(&b, " (%s)", transform)
	}
	b.WriteString("\n")
	for _, w := range warnings {
		fmt.Fprintf(&b, "# %s\n", w)
	}
	if len(res.Upstreams) > 0 {
		parts := make([]string, len(res.Upstreams))
		for i, u := range res.Upstreams {
			parts[i] = u.String()
		}
		fmt.Fprintf(&b, "# ExtServers: [%s]\n", strings.Join(parts, " "))
	}
	if len(host.Invalid) > 0 {
		fmt.Fprintf(&b, "# Invalid nameservers: [%s]\n", strings.Join(host.Invalid, " "))
	}
	fmt.Fprintf(&b, "# Overrides: [%s]\n", strings.Join(overrides, " "))
	if ndotsFrom != "" {
		fmt.Fprintf(&b, "# Option ndots from: %s\n", ndotsFrom)
	}
	res.Content = b.Bytes()
	return res
}
