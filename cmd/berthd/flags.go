package main

import (
	"github.com/spf13/pflag"

	"github.com/berthd/berth/daemon/config"
)

// configKeyAnnotation names the daemon.json key a flag sets when the flag's
// own name differs (-H → hosts, --label → labels, …).
const configKeyAnnotation = "berth/config-key"

// options are the flags that are not daemon.json settings.
type options struct {
	configFile string
	validate   bool
	version    bool
	// refused are the values of dockerd's flags berth refuses.
	refused refusedFlagValues
}

// installFlags binds dockerd's flags to cfg.
func installFlags(fs *pflag.FlagSet, cfg *config.Config, o *options) {
	keyed := func(name, key string) {
		_ = fs.SetAnnotation(name, configKeyAnnotation, []string{key})
	}

	fs.StringVar(&o.configFile, "config-file", config.DefaultConfigFile, "Daemon configuration file")
	fs.BoolVar(&o.validate, "validate", false, "Validate daemon configuration and exit")
	fs.BoolVarP(&o.version, "version", "v", false, "Print version information and quit")

	fs.VarP(&listValue{target: &cfg.Hosts}, "host", "H", "Daemon socket(s) to connect to (unix://PATH, tcp://HOST:PORT, fd://[N])")
	keyed("host", "hosts")
	fs.StringVar(&cfg.DataRoot, "data-root", cfg.DataRoot, "Root directory of persistent state")
	fs.StringVar(&cfg.ExecRoot, "exec-root", cfg.ExecRoot, "Root directory for execution state files")
	fs.StringVarP(&cfg.Pidfile, "pidfile", "p", cfg.Pidfile, "Path to use for daemon PID file")
	fs.StringVarP(&cfg.LogLevel, "log-level", "l", cfg.LogLevel, `Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")`)
	fs.BoolVarP(&cfg.Debug, "debug", "D", false, "Enable debug mode")
	fs.StringVarP(&cfg.Group, "group", "G", cfg.Group, "Group for the unix socket")
	fs.Var(&listValue{target: &cfg.Labels}, "label", "Set key=value labels to the daemon")
	keyed("label", "labels")
	fs.BoolVar(&cfg.LiveRestore, "live-restore", false, "Enable live restore of containers when the daemon stops")
	fs.BoolVar(&cfg.Experimental, "experimental", false, "Enable experimental features")
	fs.Var(&featureValue{target: &cfg.Features}, "feature", "Enable feature in the daemon")
	keyed("feature", "features")
	fs.Var(&listValue{target: &cfg.CDISpecDirs}, "cdi-spec-dir", "CDI specification directories to use")
	keyed("cdi-spec-dir", "cdi-spec-dirs")
	fs.IntVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "Default shutdown timeout in seconds for containers")
	fs.StringVar(&cfg.MetricsAddress, "metrics-addr", "", "Set default address and port to serve the metrics api on")

	// The CRI face; the keys live in daemon.json's "cri" object.
	fs.Var(&boolPtrValue{target: &cfg.CRI.Enabled}, "cri", "Serve the Kubernetes CRI on --cri-socket (default true)")
	fs.Lookup("cri").NoOptDefVal = "true"
	keyed("cri", "enabled")
	fs.StringVar(&cfg.CRI.Socket, "cri-socket", "", "CRI socket (unix://PATH; default EXEC-ROOT/cri.sock)")
	keyed("cri-socket", "socket")
	fs.StringVar(&cfg.CRI.SandboxImage, "pod-sandbox-image", "", "Pause image of CRI pod sandboxes (default "+config.DefaultPodSandboxImage+")")
	keyed("pod-sandbox-image", "sandbox-image")
	fs.Var(&listValue{target: &cfg.CRI.CNIBinDirs}, "cni-bin-dir", "Directory of CNI plugins (repeatable; default /opt/cni/bin, /usr/lib/cni)")
	fs.StringVar(&cfg.CRI.CNIConfDir, "cni-conf-dir", "", "Directory of CNI network configurations (default "+config.DefaultCNIConfDir+")")
	fs.StringVar(&cfg.CRI.StreamAddress, "cri-stream-address", "", "host:port of the CRI streaming server (default 127.0.0.1:0)")
	keyed("cri-stream-address", "stream-address")
	fs.StringVar(&cfg.RegistryConfigDir, "registry-config-dir", "", "Directory of per-registry hosts.toml files (default "+config.DefaultRegistryConfigDir+")")

	fs.Var(&boolPtrValue{target: &cfg.TLS}, "tls", "Use TLS; implied by --tlsverify")
	fs.Lookup("tls").NoOptDefVal = "true"
	fs.Var(&boolPtrValue{target: &cfg.TLSVerify}, "tlsverify", "Use TLS and verify the remote")
	fs.Lookup("tlsverify").NoOptDefVal = "true"
	fs.StringVar(&cfg.TLSCACert, "tlscacert", "", "Trust certs signed only by this CA")
	fs.StringVar(&cfg.TLSCert, "tlscert", "", "Path to TLS certificate file")
	fs.StringVar(&cfg.TLSKey, "tlskey", "", "Path to TLS key file")

	fs.StringVarP(&cfg.BridgeName, "bridge", "b", cfg.BridgeName, "Attach containers to a network bridge")
	fs.StringVar(&cfg.BridgeIP, "bip", "", "IPv4 address and prefix of the default bridge network")
	fs.StringVar(&cfg.FixedCIDR, "fixed-cidr", "", "IPv4 subnet for the default bridge network")
	fs.StringVar(&cfg.FixedCIDRv6, "fixed-cidr-v6", "", "IPv6 subnet for the default bridge network")
	fs.StringVar(&cfg.DefaultIP, "ip", "0.0.0.0", "Host IP for port publishing from the default bridge network")
	fs.BoolVar(&cfg.EnableIPv6, "ipv6", false, "Enable IPv6 networking on the default bridge network")
	fs.IntVar(&cfg.MTU, "mtu", 0, "Set the MTU for the default bridge network")
	fs.Var(&boolPtrValue{target: &cfg.EnableIPTables}, "iptables", "Enable addition of netfilter rules (default true)")
	fs.Lookup("iptables").NoOptDefVal = "true"
	fs.Var(&boolPtrValue{target: &cfg.EnableIP6Tables}, "ip6tables", "Enable addition of IPv6 NAT rules (default true)")
	fs.Lookup("ip6tables").NoOptDefVal = "true"
	fs.Var(&boolPtrValue{target: &cfg.EnableIPForward}, "ip-forward", "Enable IP forwarding in system configuration (default true)")
	fs.Lookup("ip-forward").NoOptDefVal = "true"
	fs.StringVar(&cfg.FirewallBackend, "firewall-backend", "", "Firewall backend to use, iptables or nftables (berth always uses nftables)")
	fs.BoolVar(&cfg.IPForwardNoDrop, "ip-forward-no-drop", false, "Do not set the filter-FORWARD policy to DROP when enabling IP forwarding")
	fs.BoolVar(&cfg.AllowDirectRouting, "allow-direct-routing", false, "Allow remote access to published ports on container IP addresses")
	fs.StringVar(&cfg.BridgeAcceptFwMark, "bridge-accept-fwmark", "", "In bridge networks, accept packets with this firewall mark/mask")
	fs.Var(&boolPtrValue{target: &cfg.EnableIPMasq}, "ip-masq", "Enable IP masquerading for the default bridge network (default true)")
	fs.Lookup("ip-masq").NoOptDefVal = "true"
	fs.Var(&boolPtrValue{target: &cfg.InterContainerComm}, "icc", "Enable inter-container communication for the default bridge network (default true)")
	fs.Lookup("icc").NoOptDefVal = "true"
	fs.Var(&boolPtrValue{target: &cfg.UserlandProxy}, "userland-proxy", "Use userland proxy for loopback traffic (default true)")
	fs.Lookup("userland-proxy").NoOptDefVal = "true"
	fs.Var(&listValue{target: &cfg.DNS}, "dns", "DNS server to use")
	fs.Var(&listValue{target: &cfg.DNSSearch}, "dns-search", "DNS search domains to use")
	fs.Var(&listValue{target: &cfg.DNSOptions}, "dns-opt", "DNS options to use")
	keyed("dns-opt", "dns-opts")
	fs.Var(&listValue{target: &cfg.HostGatewayIPs}, "host-gateway-ip", "IP addresses that the special 'host-gateway' string in --add-host resolves to. Defaults to the IP addresses of the default bridge")
	keyed("host-gateway-ip", "host-gateway-ips")
	fs.Var(&poolValue{target: &cfg.DefaultAddressPools}, "default-address-pool", "Default address pools for node specific local networks")
	keyed("default-address-pool", "default-address-pools")

	fs.StringVarP(&cfg.StorageDriver, "storage-driver", "s", cfg.StorageDriver, "Storage driver to use")
	fs.StringVar(&cfg.LogDriver, "log-driver", cfg.LogDriver, "Default driver for container logs")
	fs.Var(&mapValue{target: &cfg.LogOpts}, "log-opt", "Default log driver options for containers")
	keyed("log-opt", "log-opts")
	fs.Var(&ulimitValue{target: &cfg.DefaultUlimits}, "default-ulimit", "Default ulimits for containers")
	keyed("default-ulimit", "default-ulimits")
	fs.Var(&runtimeValue{target: &cfg.Runtimes}, "add-runtime", "Register an additional OCI compatible runtime")
	keyed("add-runtime", "runtimes")
	fs.StringVar(&cfg.DefaultRuntime, "default-runtime", cfg.DefaultRuntime, "Default OCI runtime for containers")

	fs.Var(&listValue{target: &cfg.InsecureRegistries}, "insecure-registry", "Enable insecure registry communication")
	keyed("insecure-registry", "insecure-registries")
	fs.Var(&listValue{target: &cfg.RegistryMirrors}, "registry-mirror", "Preferred Docker registry mirror")
	keyed("registry-mirror", "registry-mirrors")
	fs.Var(&listValue{target: &cfg.AuthorizationPlugins}, "authorization-plugin", "Authorization plugins to load")
	keyed("authorization-plugin", "authorization-plugins")
	fs.IntVar(&cfg.MaxConcurrentDownloads, "max-concurrent-downloads", cfg.MaxConcurrentDownloads, "Set the max concurrent downloads")
	fs.IntVar(&cfg.MaxDownloadAttempts, "max-download-attempts", 5, "Set the max download attempts for each pull")
	fs.IntVar(&cfg.MaxConcurrentUploads, "max-concurrent-uploads", cfg.MaxConcurrentUploads, "Set the max concurrent uploads")
}

// changedFlags maps the daemon.json key of every flag the operator set to
// its value, for MergeFile's conflict check.
func changedFlags(fs *pflag.FlagSet) map[string]string {
	out := map[string]string{}
	fs.Visit(func(f *pflag.Flag) {
		key := f.Name
		if v := f.Annotations[configKeyAnnotation]; len(v) == 1 {
			key = v[0]
		}
		switch key {
		case "config-file", "validate", "version":
			return
		}
		out[key] = f.Value.String()
	})
	return out
}
