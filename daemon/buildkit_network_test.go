package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	bk "github.com/moby/buildkit/executor"
	"github.com/moby/sys/user"

	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/image/buildkit/executor"
	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/network/bridge"
	"github.com/berthd/berth/network/firewall"
	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/netns"
	"github.com/berthd/berth/pkg/runtime/bundletest"
)

// buildNetworkDaemon is a daemon with only a network manager, whose
// default bridge is the test's own.
func buildNetworkDaemon(t *testing.T, dns []string) (*Daemon, netip.Prefix) {
	t.Helper()
	bundletest.Require(t)
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := "bkt" + hex.EncodeToString(suffix)
	var subnet netip.Prefix
	for i := 0; i < 50 && !subnet.IsValid(); i++ {
		p := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 200+int(suffix[0])%50, (int(suffix[1])+i)%256))
		if !bridge.HostConflict(p) {
			subnet = p
		}
	}
	root := t.TempDir()
	ncfg := berthnet.Config{
		Root: filepath.Join(root, "network"), EngineID: "bk-test", DefaultBridge: name,
		BridgeIP: netip.PrefixFrom(subnet.Addr().Next(), 24).String(), ICC: true, Table: name,
	}
	m, err := berthnet.New(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = bridge.Delete(name)
		_ = firewall.DeleteTable(name)
	})
	if err := m.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &Daemon{cfg: &config.Config{ExecRoot: filepath.Join(root, "exec"), DNS: dns}, networks: m}, subnet
}

func buildEndpoints(t *testing.T, d *Daemon) []string {
	t.Helper()
	r, err := d.networks.Find(context.Background(), berthnet.NameBridge)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range r.Endpoints {
		if strings.HasPrefix(e.ContainerID, buildEndpointPrefix) {
			ids = append(ids, e.ContainerID)
		}
	}
	return ids
}

// A step's namespace has eth0 on the default bridge and the resolv.conf
// of a container there; Close takes both away.
func TestBuildNetworkJoinsDefaultBridge(t *testing.T) {
	d, subnet := buildNetworkDaemon(t, []string{"192.0.2.9"})
	opts := d.buildExecutorOptions(filepath.Join(t.TempDir(), "executor"))
	if opts.Network == nil || opts.CgroupParent != "/berth" || opts.DNS == nil || opts.DNS.Nameservers[0] != "192.0.2.9" {
		t.Fatalf("executor options %+v", opts)
	}
	ns, err := opts.Network.New(context.Background(), "step")
	if err != nil {
		t.Fatal(err)
	}
	var addrs []net.Addr
	f, err := os.Open(ns.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = netns.Do(f, func() error {
		eth0, err := net.InterfaceByName("eth0")
		if err == nil {
			addrs, err = eth0.Addrs()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) == 0 || !subnet.Contains(netip.MustParsePrefix(addrs[0].String()).Addr()) {
		t.Errorf("eth0 addresses %v, want one in %s", addrs, subnet)
	}
	rc := string(ns.(executor.ResolvConfer).ResolvConf())
	if !strings.Contains(rc, "nameserver 192.0.2.9") || strings.Contains(rc, "nameserver 127.") {
		t.Errorf("resolv.conf:\n%s", rc)
	}
	if got := buildEndpoints(t, d); len(got) != 1 {
		t.Errorf("build endpoints on the bridge: %v", got)
	}
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	if got := buildEndpoints(t, d); len(got) != 0 {
		t.Errorf("endpoints left after Close: %v", got)
	}
	if _, err := os.Stat(ns.Path()); !os.IsNotExist(err) {
		t.Errorf("namespace file left after Close: %v", err)
	}
	r, _ := d.networks.Find(context.Background(), berthnet.NameBridge)
	if ports, _ := bridge.BridgePorts(r.Bridge); len(ports) != 0 {
		t.Errorf("bridge ports left after Close: %v", ports)
	}
}

// What a daemon that died during a build left, endpoint and namespace,
// goes at the next daemon's first step.
func TestBuildNetworkRemovesLeftovers(t *testing.T) {
	d, _ := buildNetworkDaemon(t, nil)
	dead := d.buildNetwork()
	left, err := dead.New(context.Background(), "step")
	if err != nil {
		t.Fatal(err)
	}
	next := d.buildNetwork()
	ns, err := next.New(context.Background(), "step")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if _, err := os.Stat(left.Path()); !os.IsNotExist(err) {
		t.Errorf("leftover namespace remains: %v", err)
	}
	if got := buildEndpoints(t, d); len(got) != 1 || !strings.HasSuffix(ns.Path(), got[0]) {
		t.Errorf("build endpoints %v, want only the new step's", got)
	}
}

// A RUN step on the default network reaches the bridge's gateway.
func TestBuildStepOnDefaultBridge(t *testing.T) {
	d, subnet := buildNetworkDaemon(t, nil)
	// Steps' cgroups under a parent of the test's own, removed at its end.
	d.cfg.CgroupParent = "berth-bknet-test-" + filepath.Base(t.TempDir())
	t.Cleanup(func() {
		for _, p := range []string{d.cfg.CgroupParent + "/buildkit", d.cfg.CgroupParent} {
			if cg, err := cgroups.New(p); err == nil {
				_ = cg.Destroy()
			}
		}
	})
	e, err := executor.New(d.buildExecutorOptions(filepath.Join(t.TempDir(), "executor")))
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	gw := subnet.Addr().Next().String()
	_, err = e.Run(context.Background(), "", bk.Mount{Src: hostDirMount(bundletest.Rootfs(t, t.TempDir()))}, nil, bk.ProcessInfo{
		Meta:   bk.Meta{Args: []string{"/bin/sh", "-c", "ping -c1 -W5 " + gw + " >/dev/null && echo reached; ip -o -4 addr show eth0"}, Cwd: "/", Env: []string{"PATH=/bin"}},
		Stdout: nopWriteCloser{&out}, Stderr: nopWriteCloser{&errOut},
	}, nil)
	if err != nil {
		t.Fatalf("%v: %s%s", err, out.String(), errOut.String())
	}
	if !strings.HasPrefix(out.String(), "reached\n") || !strings.Contains(out.String(), strings.TrimSuffix(gw, ".1")) {
		t.Errorf("step output %q", out.String())
	}
	if got := buildEndpoints(t, d); len(got) != 0 {
		t.Errorf("endpoints left after the step: %v", got)
	}
}

// hostDirMount is a BuildKit mountable of a host directory.
type hostDirMount string

func (h hostDirMount) Mount(context.Context, bool) (bk.MountableRef, error) {
	return hostDirRef(h), nil
}

type hostDirRef string

func (h hostDirRef) Mount() ([]mount.Mount, func() error, error) {
	return []mount.Mount{{Type: "bind", Source: string(h), Options: []string{"rbind"}}}, func() error { return nil }, nil
}

func (hostDirRef) IdentityMapping() *user.IdentityMapping { return nil }

type nopWriteCloser struct{ *strings.Builder }

func (nopWriteCloser) Close() error { return nil }

// Without a default bridge a step on the default network is refused
// with a message that names the way out.
func TestBuildNetworkWithoutBridge(t *testing.T) {
	d := &Daemon{cfg: &config.Config{ExecRoot: t.TempDir()}}
	_, err := d.buildNetwork().New(context.Background(), "step")
	if !errdefs.Is(err, errdefs.Unavailable) || !strings.Contains(err.Error(), "--network=host") {
		t.Errorf("error %v", err)
	}
}
