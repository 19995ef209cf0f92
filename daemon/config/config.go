package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"sort"
	"strings"

	units "github.com/docker/go-units"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/daemon/logger/drivers"
	"github.com/berthd/berth/network"
)

// Defaults for the built-in configuration. berth keeps its own roots so it
// can run beside a dockerd; the API socket is dockerd's so that the docker
// CLI finds it unchanged.
const (
	DefaultHost       = "unix:///var/run/docker.sock"
	DefaultDataRoot   = "/var/lib/berth"
	DefaultExecRoot   = "/run/berth"
	DefaultPidfile    = "/var/run/berthd.pid"
	DefaultConfigFile = "/etc/berth/daemon.json"
	DefaultGroup      = "docker"
	DefaultBridge     = "docker0"
	DefaultLogDriver  = "json-file"
	DefaultStorage    = "overlay2"
	DefaultRuntime    = "berth"

	DefaultMaxConcurrentDownloads = 3
	DefaultMaxConcurrentUploads   = 5
	DefaultShutdownTimeout        = 15
)

// AddressPool is one entry of default-address-pools.
type AddressPool struct {
	Base netip.Prefix `json:"base"`
	Size int          `json:"size"`
}

// Runtime is an OCI runtime configured with --add-runtime or "runtimes".
type Runtime struct {
	Path string   `json:"path"`
	Args []string `json:"runtimeArgs,omitempty"`
}

// Config is everything the daemon can be told. JSON keys are dockerd's.
// Pointer booleans are options whose default is true, so that "absent" and
// "false" differ.
type Config struct {
	Hosts       []string `json:"hosts,omitempty"`
	DataRoot    string   `json:"data-root,omitempty"`
	ExecRoot    string   `json:"exec-root,omitempty"`
	Pidfile     string   `json:"pidfile,omitempty"`
	LogLevel    string   `json:"log-level,omitempty"`
	Debug       bool     `json:"debug,omitempty"`
	Group       string   `json:"group,omitempty"`
	Labels      []string `json:"labels,omitempty"`
	LiveRestore bool     `json:"live-restore,omitempty"`

	TLS       *bool  `json:"tls,omitempty"`
	TLSVerify *bool  `json:"tlsverify,omitempty"`
	TLSCACert string `json:"tlscacert,omitempty"`
	TLSCert   string `json:"tlscert,omitempty"`
	TLSKey    string `json:"tlskey,omitempty"`

	BridgeName  string `json:"bridge,omitempty"`
	BridgeIP    string `json:"bip,omitempty"`
	FixedCIDR   string `json:"fixed-cidr,omitempty"`
	FixedCIDRv6 string `json:"fixed-cidr-v6,omitempty"`
	// DefaultIP is --ip: where ports of containers on the default bridge
	// are published when -p names no host address.
	DefaultIP       string `json:"ip,omitempty"`
	EnableIPv6      bool   `json:"ipv6,omitempty"`
	MTU             int    `json:"mtu,omitempty"`
	EnableIPTables  *bool  `json:"iptables,omitempty"`
	EnableIPForward *bool  `json:"ip-forward,omitempty"`
	IPForwardNoDrop bool   `json:"ip-forward-no-drop,omitempty"`
	// AllowDirectRouting is dockerd's --allow-direct-routing: other hosts
	// and networks may address containers of nat networks directly.
	AllowDirectRouting bool `json:"allow-direct-routing,omitempty"`
	// BridgeAcceptFwMark is dockerd's --bridge-accept-fwmark: packets with
	// this firewall mark ("mark" or "mark/mask") may enter any bridge.
	BridgeAcceptFwMark string `json:"bridge-accept-fwmark,omitempty"`
	// EnableIP6Tables is --ip6tables (default true): false leaves IPv6
	// without NAT rules, as dockerd's ip6tables=false does.
	EnableIP6Tables *bool `json:"ip6tables,omitempty"`
	// FirewallBackend is dockerd's --firewall-backend. berth has one
	// backend, nftables; "iptables" is accepted, so that a dockerd
	// configuration loads, with a warning at start.
	FirewallBackend     string        `json:"firewall-backend,omitempty"`
	EnableIPMasq        *bool         `json:"ip-masq,omitempty"`
	InterContainerComm  *bool         `json:"icc,omitempty"`
	UserlandProxy       *bool         `json:"userland-proxy,omitempty"`
	DNS                 []string      `json:"dns,omitempty"`
	DNSSearch           []string      `json:"dns-search,omitempty"`
	DNSOptions          []string      `json:"dns-opts,omitempty"`
	DefaultAddressPools []AddressPool `json:"default-address-pools,omitempty"`

	// HostGatewayIPs are what "host-gateway" in --add-host stands for (at
	// most one IPv4 and one IPv6 address); empty means the default
	// bridge's gateways. HostGatewayIP is dockerd's older single-address
	// key, still read.
	HostGatewayIPs []string `json:"host-gateway-ips,omitempty"`
	HostGatewayIP  string   `json:"host-gateway-ip,omitempty"`

	StorageDriver  string                   `json:"storage-driver,omitempty"`
	LogDriver      string                   `json:"log-driver,omitempty"`
	LogOpts        map[string]string        `json:"log-opts,omitempty"`
	DefaultUlimits map[string]*units.Ulimit `json:"default-ulimits,omitempty"`

	Runtimes       map[string]Runtime `json:"runtimes,omitempty"`
	DefaultRuntime string             `json:"default-runtime,omitempty"`

	InsecureRegistries []string `json:"insecure-registries,omitempty"`
	RegistryMirrors    []string `json:"registry-mirrors,omitempty"`
	// AuthorizationPlugins is the authorization plugin chain, in order.
	AuthorizationPlugins   []string `json:"authorization-plugins,omitempty"`
	MaxConcurrentDownloads int      `json:"max-concurrent-downloads,omitempty"`
	MaxConcurrentUploads   int      `json:"max-concurrent-uploads,omitempty"`
	// MaxDownloadAttempts is how many times a registry request is tried
	// and a dropped layer download resumed (0: 5, dockerd's default).
	MaxDownloadAttempts int `json:"max-download-attempts,omitempty"`

	ShutdownTimeout int  `json:"shutdown-timeout,omitempty"`
	Experimental    bool `json:"experimental,omitempty"`

	// MetricsAddress is --metrics-addr / "metrics-addr": the host:port
	// that serves Prometheus metrics at /metrics; empty (dockerd's
	// default) serves none.
	MetricsAddress string `json:"metrics-addr,omitempty"`

	// CRI configures the Kubernetes CRI face (api/cri): kubelet talks to
	// the same engine that serves the Docker API.
	CRI CRIConfig `json:"cri,omitempty"`

	// RegistryConfigDir holds containerd's hosts.toml format, one
	// directory per registry host (--registry-config-dir); it names
	// mirrors for any registry, used by CRI and Docker API pulls alike.
	RegistryConfigDir string `json:"registry-config-dir,omitempty"`

	// DefaultShmSize is /dev/shm's size for containers that set none
	// (0: 64 MiB, dockerd's default).
	DefaultShmSize MemBytes `json:"default-shm-size,omitempty"`

	// Features are dockerd's feature switches (--feature, "features");
	// berth reads "cdi" from them.
	Features map[string]bool `json:"features,omitempty"`
	// Builder is "builder": BuildKit's cache GC and entitlements.
	Builder Builder `json:"builder,omitzero"`
	// CDISpecDirs is --cdi-spec-dir / "cdi-spec-dirs". Not omitempty: an
	// empty list (no directories) and an absent one (the defaults) differ,
	// and Clone must keep that difference.
	CDISpecDirs []string `json:"cdi-spec-dirs"`

	// Defaults for containers that do not choose for themselves, as
	// dockerd's daemon.json sets them.
	Init     bool   `json:"init,omitempty"`
	InitPath string `json:"init-path,omitempty"`
	// DefaultInit is dockerd's "default-init": the init binary's name,
	// looked up in PATH, when init-path names none.
	DefaultInit string `json:"default-init,omitempty"`
	// DefaultStopTimeout is the seconds stop waits for a container that
	// set no stop timeout (nil: 10, as dockerd; 0 is a real value).
	DefaultStopTimeout  *int   `json:"default-stop-timeout,omitempty"`
	NoNewPrivileges     bool   `json:"no-new-privileges,omitempty"`
	SeccompProfile      string `json:"seccomp-profile,omitempty"`
	DefaultIpcMode      string `json:"default-ipc-mode,omitempty"`
	DefaultCgroupnsMode string `json:"default-cgroupns-mode,omitempty"`
	// CgroupParent is the parent of containers' cgroups for containers
	// that name none: a cgroup path under cgroupfs ("" is /berth), a
	// slice name under systemd ("" is system.slice).
	CgroupParent string `json:"cgroup-parent,omitempty"`
	// ExecOptions are dockerd's exec-opts; native.cgroupdriver
	// (cgroupfs or systemd) is the one Linux option.
	ExecOptions []string `json:"exec-opts,omitempty"`

	// The daemon's own log: "text" (default) or "json", and raw-logs
	// for text without colours and with full timestamps.
	LogFormat string `json:"log-format,omitempty"`
	RawLogs   bool   `json:"raw-logs,omitempty"`

	// Proxies are the proxies berthd's own HTTP clients (registries)
	// use; they override the environment's, as in dockerd.
	Proxies Proxies `json:"proxies"`

	// DefaultNetworkOpts are driver options, by driver, that networks
	// created without them get (dockerd's default-network-opts).
	DefaultNetworkOpts map[string]map[string]string `json:"default-network-opts,omitempty"`

	// MinAPIVersion raises the oldest API version clients may ask for
	// (daemon.json only, as in dockerd); "" is berth's oldest, 1.24.
	MinAPIVersion string `json:"min-api-version,omitempty"`

	// ResolvConf is the file containers' resolv.conf (and the embedded
	// DNS server's upstreams) start from instead of the host's.
	ResolvConf string `json:"resolv-conf,omitempty"`
}

// Proxies is daemon.json's "proxies" (flags --http-proxy, --https-proxy,
// --no-proxy).
type Proxies struct {
	HTTPProxy  string `json:"http-proxy,omitempty"`
	HTTPSProxy string `json:"https-proxy,omitempty"`
	NoProxy    string `json:"no-proxy,omitempty"`
}

// DefaultCDISpecDirs are the directories CDI specifications are read from
// when the configuration names none (the CDI specification's defaults).
var DefaultCDISpecDirs = []string{"/etc/cdi", "/var/run/cdi"}

// BuildKitEnabled says whether the embedded BuildKit serves /grpc and
// /session and /_ping advertises Builder-Version 2: it does unless
// "features" turns "buildkit" off, as with dockerd. The classic builder
// stays behind POST /build either way (DOCKER_BUILDKIT=0, version=1).
func (c *Config) BuildKitEnabled() bool {
	v, ok := c.Features["buildkit"]
	return !ok || v
}

// CDIEnabled says whether CDI is on: it is unless "features" turns "cdi"
// off, as in dockerd.
func (c *Config) CDIEnabled() bool {
	v, ok := c.Features["cdi"]
	return !ok || v
}

// CDISpecDirsInUse are the CDI specification directories in effect, as
// dockerd works them out: the defaults when none were configured, none when
// CDI is off or the only directory given is "" (dockerd's way of disabling
// CDI from the command line).
func (c *Config) CDISpecDirsInUse() []string {
	if !c.CDIEnabled() {
		return []string{}
	}
	if c.CDISpecDirs == nil {
		return append([]string{}, DefaultCDISpecDirs...)
	}
	if len(c.CDISpecDirs) == 1 && c.CDISpecDirs[0] == "" {
		return []string{}
	}
	return append([]string{}, c.CDISpecDirs...)
}

// MemBytes is a size in bytes written as dockerd writes it: "64M",
// "1g", or a plain number.
type MemBytes int64

// Set parses a flag value.
func (m *MemBytes) Set(s string) error {
	v, err := units.RAMInBytes(s)
	if err != nil {
		return err
	}
	*m = MemBytes(v)
	return nil
}

func (m *MemBytes) String() string {
	if *m == 0 {
		return ""
	}
	return units.BytesSize(float64(*m))
}

// Type names the flag value's kind in help.
func (m *MemBytes) Type() string { return "bytes" }

// UnmarshalJSON accepts a string with a unit or a number of bytes.
func (m *MemBytes) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		*m = MemBytes(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	return m.Set(s)
}

// Default returns the built-in configuration.
func Default() *Config {
	return &Config{
		Hosts:                  []string{DefaultHost},
		DataRoot:               DefaultDataRoot,
		ExecRoot:               DefaultExecRoot,
		Pidfile:                DefaultPidfile,
		LogLevel:               "info",
		Group:                  DefaultGroup,
		BridgeName:             DefaultBridge,
		StorageDriver:          DefaultStorage,
		LogDriver:              DefaultLogDriver,
		LogOpts:                map[string]string{},
		DefaultUlimits:         map[string]*units.Ulimit{},
		Runtimes:               map[string]Runtime{},
		DefaultRuntime:         DefaultRuntime,
		MaxConcurrentDownloads: DefaultMaxConcurrentDownloads,
		MaxConcurrentUploads:   DefaultMaxConcurrentUploads,
		ShutdownTimeout:        DefaultShutdownTimeout,
	}
}

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // Config holds only JSON-safe types
	}
	out := &Config{}
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

// BoolOr reads an optional boolean with its default.
func BoolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// jsonKeys lists the daemon.json keys of Config.
func jsonKeys() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

// MergeFile reads the daemon.json at path on top of c. flagValues maps the
// daemon.json key of every flag the operator set to its value as typed, so
// that a key given both ways is refused with dockerd's message. Errors carry
// dockerd's "unable to configure the Docker daemon with file" prefix.
func MergeFile(c *Config, path string, flagValues map[string]string) error {
	wrap := func(err error) error {
		return fmt.Errorf("unable to configure the Docker daemon with file %s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from Windows editors
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(data, &raw); err != nil {
		return wrap(err)
	}
	known := jsonKeys()
	var unknown, conflicts, noEffect []string
	for k, v := range raw {
		switch {
		case known[k]:
		case refusedKeys[k] != nil:
			if err := refusedKeys[k](v); err != nil {
				return wrap(fmt.Errorf("%s: %w", k, err))
			}
			noEffect = append(noEffect, k)
		default:
			unknown = append(unknown, k)
			continue
		}
		if k == "proxies" || k == "cri" {
			// Their keys are flags of their own (--http-proxy, --cri-socket, …).
			conflicts = append(conflicts, nestedConflicts(v, flagValues)...)
		}
		if fv, ok := flagValues[k]; ok {
			conflicts = append(conflicts, fmt.Sprintf("%s: (from flag: %s, from file: %s)", k, fv, fileValueString(v)))
		}
	}
	sort.Strings(unknown)
	sort.Strings(conflicts)
	if len(unknown) > 0 {
		return wrap(fmt.Errorf("the following directives don't match any configuration option: %s", strings.Join(unknown, ", ")))
	}
	if len(conflicts) > 0 {
		return wrap(fmt.Errorf("the following directives are specified both as a flag and in the configuration file: %s", strings.Join(conflicts, ", ")))
	}
	for _, k := range noEffect {
		delete(raw, k)
		// The others passed because their value asks for nothing.
		if reason, ok := noEffectReason[k]; ok {
			logrus.WithField("key", k).Warn(reason)
		}
	}
	filtered, _ := json.Marshal(raw)
	dec := json.NewDecoder(bytes.NewReader(filtered))
	if err := dec.Decode(c); err != nil {
		return wrap(err)
	}
	return nil
}

// nestedConflicts are the keys of an object-valued key that a flag set too.
func nestedConflicts(v json.RawMessage, flagValues map[string]string) []string {
	var sub map[string]json.RawMessage
	if json.Unmarshal(v, &sub) != nil {
		return nil
	}
	var out []string
	for k, sv := range sub {
		if fv, ok := flagValues[k]; ok {
			out = append(out, fmt.Sprintf("%s: (from flag: %s, from file: %s)", k, fv, fileValueString(sv)))
		}
	}
	return out
}

// fileValueString prints a daemon.json value the way dockerd's conflict
// message does: strings bare, lists as [a b], others as JSON.
func fileValueString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var list []any
	if json.Unmarshal(v, &list) == nil {
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = fmt.Sprint(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	var m map[string]any
	if json.Unmarshal(v, &m) == nil {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s:%v", k, m[k])
		}
		return "map[" + strings.Join(parts, " ") + "]"
	}
	return string(v)
}

var logLevels = map[string]bool{"debug": true, "info": true, "warn": true, "error": true, "fatal": true, "panic": true, "trace": true}

// Validate checks values the way dockerd does before anything starts.
func (c *Config) Validate() error {
	if !logLevels[c.LogLevel] {
		return fmt.Errorf("invalid logging level: %s", c.LogLevel)
	}
	if err := c.validateMinAPIVersion(); err != nil {
		return err
	}
	if err := c.validateContainerDefaults(); err != nil {
		return err
	}
	if err := c.Builder.validate(); err != nil {
		return err
	}
	if err := c.validateCgroupDriver(); err != nil {
		return err
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("invalid log format: %s", c.LogFormat)
	}
	if c.MetricsAddress != "" {
		// dockerd finds a bad address when it starts the metrics server;
		// --validate finds it here, with dockerd's words.
		if _, _, err := net.SplitHostPort(c.MetricsAddress); err != nil {
			return fmt.Errorf("failed to start metrics server: error parsing tcp address: %w", err)
		}
	}
	for _, d := range c.DNS {
		if net.ParseIP(d) == nil {
			return fmt.Errorf("%s is not an ip address", d)
		}
	}
	if _, err := c.HostGatewayAddrs(); err != nil {
		return err
	}
	for _, l := range c.Labels {
		if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
			return fmt.Errorf("bad attribute format: %s", l)
		}
	}
	if c.MaxConcurrentDownloads < 0 {
		return fmt.Errorf("invalid max concurrent downloads: %d", c.MaxConcurrentDownloads)
	}
	if c.MaxDownloadAttempts < 0 {
		return fmt.Errorf("invalid max download attempts: %d", c.MaxDownloadAttempts)
	}
	if c.MaxConcurrentUploads < 0 {
		return fmt.Errorf("invalid max concurrent uploads: %d", c.MaxConcurrentUploads)
	}
	if c.MTU < 0 {
		return fmt.Errorf("invalid default MTU: %d", c.MTU)
	}
	if err := network.ValidateFwMark(c.BridgeAcceptFwMark); err != nil {
		return fmt.Errorf("invalid bridge-accept-fwmark: %w", err)
	}
	if c.ShutdownTimeout < -1 {
		return errors.New("invalid shutdown-timeout: must be -1 or more")
	}
	if c.BridgeIP != "" {
		if _, err := netip.ParsePrefix(c.BridgeIP); err != nil {
			return fmt.Errorf("invalid bip %q: %v", c.BridgeIP, err)
		}
	}
	switch c.FirewallBackend {
	case "", "iptables", "nftables":
	default:
		return errors.New(`invalid firewall-backend: allowed values are "iptables" and "nftables"`)
	}
	if c.DefaultIP != "" {
		if _, err := netip.ParseAddr(c.DefaultIP); err != nil {
			return fmt.Errorf("invalid ip %q: must be an IP address", c.DefaultIP)
		}
	}
	if c.FixedCIDR != "" {
		if _, err := netip.ParsePrefix(c.FixedCIDR); err != nil {
			return fmt.Errorf("invalid fixed-cidr %q: %v", c.FixedCIDR, err)
		}
	}
	if c.FixedCIDRv6 != "" {
		p, err := netip.ParsePrefix(c.FixedCIDRv6)
		if err == nil {
			err = network.ValidateIPv6Subnet(p)
		}
		if err != nil {
			return fmt.Errorf("invalid fixed-cidr-v6: %v", err)
		}
	}
	for _, p := range c.DefaultAddressPools {
		if !p.Base.IsValid() {
			return errors.New("invalid default address pool: base is required")
		}
		if p.Size < p.Base.Bits() || p.Size > p.Base.Addr().BitLen() {
			return fmt.Errorf("invalid default address pool %s: size %d must be between %d and %d", p.Base, p.Size, p.Base.Bits(), p.Base.Addr().BitLen())
		}
	}
	for name, r := range c.Runtimes {
		if name == DefaultRuntime {
			return fmt.Errorf("runtime name '%s' is reserved", name)
		}
		if r.Path == "" {
			return fmt.Errorf("runtime %s: path is required", name)
		}
	}
	if c.DefaultRuntime != DefaultRuntime {
		if _, ok := c.Runtimes[c.DefaultRuntime]; !ok {
			return fmt.Errorf("specified default runtime '%s' does not exist", c.DefaultRuntime)
		}
	}
	if c.StorageDriver != "" && c.StorageDriver != DefaultStorage {
		return fmt.Errorf("storage driver %q is not supported: berth uses overlay2", c.StorageDriver)
	}
	if !drivers.Builtin(c.LogDriver) {
		return fmt.Errorf("logging driver %q is not supported: use json-file, local, none, syslog, gelf, fluentd, journald, splunk or awslogs", c.LogDriver)
	}
	if len(c.LogOpts) > 0 {
		if err := drivers.Validate(c.LogDriver, c.LogOpts); err != nil {
			return fmt.Errorf("failed to set log opts: %w", err)
		}
	}
	return nil
}

// HostGatewayAddrs are the configured host-gateway addresses, with
// dockerd's checks: at most one of each family.
func (c *Config) HostGatewayAddrs() ([]netip.Addr, error) {
	raw := c.HostGatewayIPs
	if len(raw) == 0 && c.HostGatewayIP != "" {
		raw = []string{c.HostGatewayIP}
	}
	var out []netip.Addr
	var have4, have6 bool
	for _, r := range raw {
		a, err := netip.ParseAddr(r)
		if err != nil {
			return nil, fmt.Errorf("invalid host-gateway-ip %q: %v", r, err)
		}
		a = a.Unmap()
		if a.Is4() {
			if have4 {
				return nil, errors.New("only one IPv4 host gateway IP address can be specified")
			}
			have4 = true
		} else {
			if have6 {
				return nil, errors.New("only one IPv6 host gateway IP address can be specified")
			}
			have6 = true
		}
		out = append(out, a)
	}
	return out, nil
}
