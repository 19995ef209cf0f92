package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/berthd/berth/daemon/config"
)

// refusedFlags are dockerd flags whose daemon.json keys berth refuses
// (config.CheckRefused): a dockerd command line that sets one to a value
// berth cannot honour stops the start with the flag's name and the
// reason, as the key does in daemon.json; a value that asks for nothing
// (false, 0, "") starts.
var refusedFlags = []struct {
	name, key, kind, usage string
}{
	{"userns-remap", "userns-remap", "string", "User/Group setting for user namespaces (not supported by berth)"},
	{"selinux-enabled", "selinux-enabled", "bool", "Enable selinux support (not supported by berth)"},
	{"storage-opt", "storage-opts", "list", "Storage driver options (not supported by berth)"},
	{"default-gateway", "default-gateway", "string", "Default gateway IPv4 address for the default bridge network (not supported by berth)"},
	{"default-gateway-v6", "default-gateway-v6", "string", "Default gateway IPv6 address for the default bridge network (not supported by berth)"},
	{"bip6", "bip6", "string", "IPv6 address of the default bridge (not supported by berth)"},
	{"userland-proxy-path", "userland-proxy-path", "string", "Path to the userland proxy binary (berth's proxy is built in)"},
	{"cpu-rt-period", "cpu-rt-period", "int", "CPU real-time period for the parent cgroup (not supported by berth)"},
	{"cpu-rt-runtime", "cpu-rt-runtime", "int", "CPU real-time runtime for the parent cgroup (not supported by berth)"},
	{"rootless", "rootless", "bool", "Enable rootless mode (not supported by berth)"},
	{"cri-containerd", "cri-containerd", "bool", "Start containerd with CRI (berth runs no containerd)"},
	{"nri-opts", "nri-opts", "string", "Node Resource Interface configuration (not supported by berth)"},
	{"swarm-default-advertise-addr", "swarm-default-advertise-addr", "string", "Swarm default advertise address (no swarm mode in berth)"},
	{"node-generic-resource", "node-generic-resources", "list", "Advertise user-defined resource (no swarm mode in berth)"},
	{"network-control-plane-mtu", "network-control-plane-mtu", "int", "Network control plane MTU (no swarm mode in berth)"},
	{"network-diagnostic-port", "network-diagnostic-port", "int", "TCP port for the network diagnostic server (no swarm mode in berth)"},
}

// refusedFlagValues holds what the refused flags were given.
type refusedFlagValues map[string]*[]string

func installRefusedFlags(fs *pflag.FlagSet) refusedFlagValues {
	vals := refusedFlagValues{}
	for _, f := range refusedFlags {
		v := &[]string{}
		vals[f.name] = v
		fs.Var(&listValue{target: v}, f.name, f.usage)
		_ = fs.SetAnnotation(f.name, configKeyAnnotation, []string{f.key})
		if f.kind == "bool" {
			fs.Lookup(f.name).NoOptDefVal = "true"
		}
	}
	return vals
}

// check refuses a refused flag the operator set to a value berth cannot
// honour.
func (vals refusedFlagValues) check(fs *pflag.FlagSet) error {
	for _, f := range refusedFlags {
		if !fs.Changed(f.name) {
			continue
		}
		given := *vals[f.name]
		var v any = given
		if f.kind != "list" {
			last := given[len(given)-1]
			v = last
			switch f.kind {
			case "bool":
				b, err := strconv.ParseBool(last)
				if err != nil {
					return fmt.Errorf("invalid argument %q for \"--%s\" flag: %v", last, f.name, err)
				}
				v = b
			case "int":
				n, err := strconv.ParseInt(last, 10, 64)
				if err != nil {
					return fmt.Errorf("invalid argument %q for \"--%s\" flag: %v", last, f.name, err)
				}
				v = n
			}
		}
		raw, _ := json.Marshal(v)
		if err := config.CheckRefused(f.key, raw); err != nil {
			return fmt.Errorf("--%s: %w", f.name, err)
		}
	}
	return nil
}
