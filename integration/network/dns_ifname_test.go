package network

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// dnsClient is the Go client of the shared daemon.
func dnsClient(t *testing.T) *client.Client {
	t.Helper()
	c, err := d.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dnsIfaceAddr is `ip -o -4 addr show name` in the container.
func dnsIfaceAddr(t *testing.T, id, name string) string {
	t.Helper()
	out, _, _ := d.Docker("exec", id, "ip", "-o", "-4", "addr", "show", name)
	return out
}

// A container created through the API with endpoint settings and no
// network mode of its own joins exactly those networks (dockerd does not
// add the default bridge then); the ifname driver option names the device,
// the others take the first free ethN; reconnecting gives the freed name
// and the lowest free address back.
func TestDNSEndpointsOnlyAndCustomIfname(t *testing.T) {
	withImages(t)
	ctx := context.Background()
	c := dnsClient(t)
	sub := map[string]string{}
	var nets []string
	for i := 0; i < 3; i++ {
		s, gw, o := testSubnet()
		n := uniq("ifn")
		createNet(t, n, "--subnet", s, "--gateway", gw)
		sub[n] = o
		nets = append(nets, n)
	}
	res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: img, Cmd: []string{"sleep", "300"}},
		HostConfig: &container.HostConfig{},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			nets[0]: {DriverOpts: map[string]string{"com.docker.network.endpoint.ifname": "eth1"}},
			nets[1]: {},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := res.ID
	t.Cleanup(func() { d.Docker("rm", "-f", id) })
	if _, err := c.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := ctrInspect(t, d, id).NetworkSettings.Networks; len(got) != 2 || got["bridge"] != nil {
		t.Fatalf("networks of a container with endpoint settings only: %v", got)
	}
	if out := dnsIfaceAddr(t, id, "eth0"); !strings.Contains(out, "inet "+sub[nets[1]]+".2/") {
		t.Fatalf("eth0 should be %s's:\n%s", nets[1], out)
	}
	if out := dnsIfaceAddr(t, id, "eth1"); !strings.Contains(out, "inet "+sub[nets[0]]+".2/") {
		t.Fatalf("eth1 (chosen) should be %s's:\n%s", nets[0], out)
	}
	d.DockerT(t, "network", "connect", nets[2], id)
	if out := dnsIfaceAddr(t, id, "eth2"); !strings.Contains(out, "inet "+sub[nets[2]]+".2/") {
		t.Fatalf("eth2 should be %s's:\n%s", nets[2], out)
	}
	d.DockerT(t, "network", "disconnect", nets[1], id)
	d.DockerT(t, "network", "disconnect", nets[2], id)
	d.DockerT(t, "network", "connect", nets[2], id)
	if out := dnsIfaceAddr(t, id, "eth0"); !strings.Contains(out, "inet "+sub[nets[2]]+".2/") {
		t.Fatalf("after reconnecting, eth0 should be %s's with its old address:\n%s", nets[2], out)
	}

	// A chosen name that the container already has is dockerd's error.
	_, err = c.NetworkConnect(ctx, nets[1], client.NetworkConnectOptions{Container: id,
		EndpointConfig: &network.EndpointSettings{DriverOpts: map[string]string{"com.docker.network.endpoint.ifname": "eth0"}}})
	if err == nil || !strings.Contains(err.Error(), "error renaming interface") || !strings.Contains(err.Error(), "file exists") {
		t.Fatalf("connect with a taken ifname: %v", err)
	}
}

// A container whose only network was disconnected while it was stopped
// starts with no network, as with dockerd, instead of rejoining its
// network mode's; one connected while stopped keeps its network mode's.
func TestDNSStoppedConnectDisconnectKeepsTheSet(t *testing.T) {
	withImages(t)
	n := uniq("stp")
	createNet(t, n)
	id := strings.TrimSpace(d.DockerT(t, "create", img, "sleep", "300"))
	t.Cleanup(func() { d.Docker("rm", "-f", id) })
	d.DockerT(t, "network", "connect", n, id)
	d.DockerT(t, "start", id)
	got := ctrInspect(t, d, id).NetworkSettings.Networks
	if got["bridge"] == nil || got[n] == nil {
		t.Fatalf("after connecting a created container: %v", got)
	}
	d.DockerT(t, "stop", "-t", "0", id)
	d.DockerT(t, "network", "disconnect", "bridge", id)
	d.DockerT(t, "network", "disconnect", n, id)
	d.DockerT(t, "start", id)
	if got := ctrInspect(t, d, id).NetworkSettings.Networks; len(got) != 0 {
		t.Fatalf("after disconnecting every network: %v", got)
	}
}
