package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/pkg/errdefs"
)

// namespacePaths resolves the container:<id> modes to the namespaces of
// the running target.
func (d *Daemon) namespacePaths(c *ctr.Container) (map[specs.LinuxNamespaceType]string, error) {
	paths := map[specs.LinuxNamespaceType]string{}
	join := func(mode string, t specs.LinuxNamespaceType, file string) error {
		ref, ok := strings.CutPrefix(mode, "container:")
		if !ok {
			return nil
		}
		target, err := d.containers.Get(ref)
		if err != nil {
			return err
		}
		if target.ID == c.ID {
			return errdefs.InvalidParameterf("cannot join own namespace")
		}
		target.Lock()
		pid, running := target.State.Pid, target.State.Running
		target.Unlock()
		if !running || pid == 0 {
			return errdefs.Conflictf("cannot join network namespace of a non running container: container %s is exited", target.ID)
		}
		paths[t] = fmt.Sprintf("/proc/%d/ns/%s", pid, file)
		return nil
	}
	hc := c.HostConfig
	if err := join(string(hc.NetworkMode), specs.NetworkNamespace, "net"); err != nil {
		return nil, err
	}
	if err := join(string(hc.IpcMode), specs.IPCNamespace, "ipc"); err != nil {
		return nil, err
	}
	if err := join(string(hc.PidMode), specs.PIDNamespace, "pid"); err != nil {
		return nil, err
	}
	return paths, nil
}

// joinNetworks connects a created (not yet started) container, whose
// network namespace belongs to pid, to its networks, and records the
// endpoints in its NetworkSettings. The caller holds c's lock.
func (d *Daemon) joinNetworks(ctx context.Context, c *ctr.Container, pid int) error {
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	c.NetworkSettings = &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}}
	if mode.Kind != "bridge" || d.networks == nil {
		if mode.Kind == "host" || mode.Kind == "none" {
			c.NetworkSettings.Networks[mode.Kind] = &network.EndpointSettings{}
		}
		return nil
	}
	o := berthnet.JoinOptions{ContainerID: c.ID, Name: trimSlash(c.Name), Pid: pid}
	if nc := c.NetworkConfig; nc != nil {
		if es := nc.EndpointsConfig[mode.Network]; es != nil {
			o.Aliases = es.Aliases
			if es.IPAMConfig != nil {
				o.IPv4, o.IPv6 = es.IPAMConfig.IPv4Address, es.IPAMConfig.IPv6Address
			}
		}
	}
	ep, err := d.networks.Join(ctx, mode.Network, o)
	if err != nil {
		return err
	}
	c.NetworkSettings.Networks[mode.Network] = ep.Settings()
	c.NetworkSettings.SandboxKey = fmt.Sprintf("/proc/%d/ns/net", pid)
	return nil
}

// cleanupNetwork leaves every network the container joined. The caller
// holds c's lock.
func (d *Daemon) cleanupNetwork(c *ctr.Container) {
	if c.NetworkSettings == nil || d.networks == nil {
		return
	}
	for name := range c.NetworkSettings.Networks {
		if name == "host" || name == "none" {
			continue
		}
		if err := d.networks.Leave(context.Background(), name, c.ID); err != nil {
			logrus.WithError(err).WithFields(logrus.Fields{"container": c.ID[:12], "network": name}).Warn("could not leave network")
		}
	}
	// dockerd keeps the network names but drops the addresses of a
	// stopped container.
	for name := range c.NetworkSettings.Networks {
		c.NetworkSettings.Networks[name] = &network.EndpointSettings{}
	}
	c.NetworkSettings.SandboxKey = ""
}

// writeEtcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into its directory and returns their bind mounts. They
// are rewritten in place (never renamed) after the network is joined, so
// the bind mounts see the final content.
func (d *Daemon) writeEtcFiles(c *ctr.Container) ([]specs.Mount, error) {
	hc := c.HostConfig
	c.HostnamePath = filepath.Join(c.Root(), "hostname")
	c.HostsPath = filepath.Join(c.Root(), "hosts")
	c.ResolvConfPath = filepath.Join(c.Root(), "resolv.conf")
	hostname := c.Config.Hostname
	if hc.NetworkMode.IsHost() {
		hostname, _ = os.Hostname()
	}
	if err := writeInPlace(c.HostnamePath, []byte(hostname+"\n")); err != nil {
		return nil, errdefs.System(err)
	}
	if err := writeInPlace(c.HostsPath, d.hostsContent(c, "")); err != nil {
		return nil, errdefs.System(err)
	}
	if err := writeInPlace(c.ResolvConfPath, d.resolvConfContent(c)); err != nil {
		return nil, errdefs.System(err)
	}
	opts := []string{"rbind", "rprivate"}
	if hc.ReadonlyRootfs {
		opts = append(opts, "ro")
	}
	var mounts []specs.Mount
	for _, f := range []struct{ src, dst string }{{c.ResolvConfPath, "/etc/resolv.conf"}, {c.HostnamePath, "/etc/hostname"}, {c.HostsPath, "/etc/hosts"}} {
		mounts = append(mounts, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: opts})
	}
	return mounts, nil
}

func writeInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// hostsContent is /etc/hosts as dockerd writes it: the loopback entries,
// --add-host entries, then the container's own address and name.
func (d *Daemon) hostsContent(c *ctr.Container, ip string) []byte {
	if c.HostConfig.NetworkMode.IsHost() {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			return b
		}
	}
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	for _, h := range c.HostConfig.ExtraHosts {
		name, addr, ok := strings.Cut(h, ":")
		if !ok {
			name, addr, _ = strings.Cut(h, "=")
		}
		if addr == "host-gateway" {
			addr = d.hostGatewayIP()
		}
		fmt.Fprintf(&b, "%s\t%s\n", addr, name)
	}
	if ip != "" {
		names := c.Config.Hostname
		if c.Config.Domainname != "" {
			names = c.Config.Hostname + "." + c.Config.Domainname + " " + c.Config.Hostname
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	return b.Bytes()
}

// hostGatewayIP is what host-gateway means: the default bridge's address.
func (d *Daemon) hostGatewayIP() string {
	if d.networks != nil {
		if r, err := d.networks.Find(context.Background(), berthnet.NameBridge); err == nil {
			for _, cfg := range r.IPAMConfig {
				if cfg.Gateway.IsValid() && cfg.Gateway.Is4() {
					return cfg.Gateway.String()
				}
			}
		}
	}
	return "172.17.0.1"
}

// resolvConfContent derives the container's resolv.conf from the host's,
// as dockerd does: --dns, --dns-search and --dns-option replace the host's
// entries; loopback name servers (a host stub resolver) cannot be reached
// from a container's namespace and are dropped, and if none remain the
// public defaults are used.
func (d *Daemon) resolvConfContent(c *ctr.Container) []byte {
	hc := c.HostConfig
	host, _ := os.ReadFile("/etc/resolv.conf")
	if hc.NetworkMode.IsHost() {
		return host
	}
	var ns, search, opts []string
	for _, line := range strings.Split(string(host), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if !strings.HasPrefix(f[1], "127.") && f[1] != "::1" {
				ns = append(ns, f[1])
			}
		case "search", "domain":
			search = append(search, f[1:]...)
		case "options":
			opts = append(opts, f[1:]...)
		}
	}
	cfg := d.Config()
	pick := func(container, daemon, host []string) []string {
		if len(container) > 0 {
			return container
		}
		if len(daemon) > 0 {
			return daemon
		}
		return host
	}
	dnsList := make([]string, 0, len(hc.DNS))
	for _, a := range hc.DNS {
		dnsList = append(dnsList, a.String())
	}
	ns = pick(dnsList, cfg.DNS, ns)
	search = pick(hc.DNSSearch, cfg.DNSSearch, search)
	opts = pick(hc.DNSOptions, cfg.DNSOptions, opts)
	if len(ns) == 0 {
		ns = []string{"8.8.8.8", "8.8.4.4"}
	}
	var b bytes.Buffer
	for _, n := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", n)
	}
	if len(search) > 0 && !(len(search) == 1 && search[0] == ".") {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.Bytes()
}
