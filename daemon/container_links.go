package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/network"

	ctr "github.com/berthd/berth/container"
	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/network/etchosts"
)

// link is one --link, resolved.
type link struct {
	target *ctr.Container
	name   string // the target's name without slash
	alias  string
}

// links resolves the container's --link entries ("name" or
// "name:alias") to existing containers.
func (d *Daemon) links(c *ctr.Container) []link {
	if c.LinkTargets != nil {
		return d.boundLinks(c)
	}
	var out []link
	for _, l := range c.HostConfig.Links {
		name, alias, ok := strings.Cut(l, ":")
		name = strings.TrimPrefix(name, "/")
		if !ok || alias == "" {
			alias = name
		}
		// dockerd records links as /target:/self/alias.
		alias = alias[strings.LastIndex(alias, "/")+1:]
		t, err := d.containers.Get(name)
		if err != nil || t.ID == c.ID {
			continue
		}
		out = append(out, link{target: t, name: trimSlash(t.Name), alias: alias})
	}
	return out
}

// linkHostEntries are the hosts lines of legacy links on the default
// bridge: "ip alias hostname name".
func (d *Daemon) linkHostEntries(c *ctr.Container) []etchosts.Entry {
	if berthnet.ParseMode(string(c.HostConfig.NetworkMode)).Network != berthnet.NameBridge {
		return nil
	}
	var out []etchosts.Entry
	for _, l := range d.links(c) {
		ip, hostname := d.linkTargetIP(l.target)
		if !ip.IsValid() {
			continue
		}
		names := []string{l.alias}
		if hostname != "" && hostname != l.alias {
			names = append(names, hostname)
		}
		if l.name != l.alias {
			names = append(names, l.name)
		}
		out = append(out, etchosts.Entry{Addr: ip, Names: names})
	}
	return out
}

// linkTargetIP is a link target's address on the default bridge.
func (d *Daemon) linkTargetIP(t *ctr.Container) (netip.Addr, string) {
	t.Lock()
	defer t.Unlock()
	if t.NetworkSettings == nil || t.Config == nil {
		return netip.Addr{}, ""
	}
	if es := t.NetworkSettings.Networks[berthnet.NameBridge]; es != nil {
		return es.IPAddress, t.Config.Hostname
	}
	return netip.Addr{}, t.Config.Hostname
}

// linkEnv is the environment legacy links give a container on the default
// bridge, as dockerd writes it (ALIAS_NAME, ALIAS_PORT…, ALIAS_ENV_…).
func (d *Daemon) linkEnv(c *ctr.Container) []string {
	if berthnet.ParseMode(string(c.HostConfig.NetworkMode)).Network != berthnet.NameBridge || !keepLegacyLinkEnv() {
		return nil
	}
	var env []string
	for _, l := range d.links(c) {
		ip, _ := d.linkTargetIP(l.target)
		if !ip.IsValid() {
			continue
		}
		prefix := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(l.alias))
		l.target.Lock()
		var ports []network.Port
		for p := range l.target.Config.ExposedPorts {
			ports = append(ports, p)
		}
		for p := range l.target.HostConfig.PortBindings {
			if _, ok := l.target.Config.ExposedPorts[p]; !ok {
				ports = append(ports, p)
			}
		}
		tenv := slices.Clone(l.target.Config.Env)
		l.target.Unlock()
		sort.Slice(ports, func(i, j int) bool {
			if ports[i].Num() != ports[j].Num() {
				return ports[i].Num() < ports[j].Num()
			}
			return ports[i].Proto() < ports[j].Proto()
		})
		if len(ports) > 0 {
			env = append(env, fmt.Sprintf("%s_PORT=%s://%s:%d", prefix, ports[0].Proto(), ip, ports[0].Num()))
		}
		for _, p := range ports {
			k := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Num(), strings.ToUpper(string(p.Proto())))
			env = append(env,
				fmt.Sprintf("%s=%s://%s:%d", k, p.Proto(), ip, p.Num()),
				fmt.Sprintf("%s_ADDR=%s", k, ip),
				fmt.Sprintf("%s_PORT=%d", k, p.Num()),
				fmt.Sprintf("%s_PROTO=%s", k, p.Proto()))
		}
		env = append(env, fmt.Sprintf("%s_NAME=/%s/%s", prefix, trimSlash(c.Name), l.alias))
		for _, kv := range tenv {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "HOME" || k == "PATH" {
				continue
			}
			env = append(env, fmt.Sprintf("%s_ENV_%s=%s", prefix, k, v))
		}
	}
	return env
}
