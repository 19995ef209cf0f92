package network

import (
	"strings"
	"testing"
)

// epDefaultRoute is the container's IPv4 default route.
func epDefaultRoute(t *testing.T, id string) string {
	t.Helper()
	return strings.TrimSpace(d.DockerT(t, "exec", id, "ip", "-4", "route", "show", "default"))
}

// epGateway is a network's IPv4 gateway as the container sees it.
func epGateway(t *testing.T, id, netName string) string {
	t.Helper()
	es := ctrInspect(t, d, id).NetworkSettings.Networks[netName]
	if es == nil || !es.Gateway.IsValid() {
		t.Fatalf("container %s has no gateway on %s", id, netName)
	}
	return es.Gateway.String()
}

// The default gateway goes to the endpoint with the highest GwPriority,
// whatever the order the networks were joined in; when the gateway's
// network is disconnected the next best takes over, and when a better one
// connects it takes the route back (dockerd's behaviour since API 1.48).
func TestEpGatewayPriorityAndReselect(t *testing.T) {
	withImages(t)
	netA, netB := uniq("gwa"), uniq("gwb")
	createNet(t, netA)
	createNet(t, netB)
	id := runD(t, d, "--network", netA, "--network", "name="+netB+",gw-priority=1", img, "sleep", "300")
	gwA, gwB := epGateway(t, id, netA), epGateway(t, id, netB)
	if r := epDefaultRoute(t, id); !strings.Contains(r, "via "+gwB+" ") {
		t.Fatalf("want the default route via %s (%s, priority 1), got %q", gwB, netB, r)
	}
	d.DockerT(t, "network", "disconnect", netB, id)
	if r := epDefaultRoute(t, id); !strings.Contains(r, "via "+gwA+" ") {
		t.Fatalf("after disconnecting %s: want the default route via %s, got %q", netB, gwA, r)
	}
	d.DockerT(t, "network", "connect", "--gw-priority", "2", netB, id)
	gwB = epGateway(t, id, netB)
	if r := epDefaultRoute(t, id); !strings.Contains(r, "via "+gwB+" ") || strings.Count(r, "default") != 1 {
		t.Fatalf("after connecting %s again: want only a default route via %s, got %q", netB, gwB, r)
	}
}

// A network whose gateway cannot be used (its interface is down) does not
// stop a disconnect, and the container reconnects and restarts with both
// networks (moby#51578); the interface name is the one asked for with
// com.docker.network.endpoint.ifname.
func TestEpGatewayFailureDoesNotBlockDisconnect(t *testing.T) {
	withImages(t)
	netA, netB := uniq("gwc"), uniq("gwd")
	createNet(t, netA)
	createNet(t, netB)
	id := runD(t, d, "--cap-add", "NET_ADMIN", "--network", "name="+netA+",gw-priority=1",
		"--network", "name="+netB+",driver-opt=com.docker.network.endpoint.ifname=eth2", img, "sleep", "300")
	d.DockerT(t, "exec", id, "ip", "link", "set", "eth2", "down")
	d.DockerT(t, "network", "disconnect", netA, id)
	d.DockerT(t, "network", "connect", netA, id)
	if r := epDefaultRoute(t, id); !strings.Contains(r, "via "+epGateway(t, id, netA)+" ") {
		t.Fatalf("after reconnecting %s: %q", netA, r)
	}
	d.DockerT(t, "restart", "-t", "0", id)
	nets := ctrInspect(t, d, id).NetworkSettings.Networks
	if len(nets) != 2 || nets[netA] == nil || nets[netB] == nil {
		t.Fatalf("after restart the container is on %v", nets)
	}
	if out := d.DockerT(t, "exec", id, "ip", "-o", "link", "show", "eth2"); !strings.Contains(out, "eth2@") {
		t.Fatalf("no eth2 after restart: %s", out)
	}
}

// A container created with endpoint settings for other networks only, and
// no network mode, joins those networks and not the default bridge, as
// with dockerd.
func TestEpEndpointsConfigOnlyNetworks(t *testing.T) {
	withImages(t)
	netA, netB := uniq("gwe"), uniq("gwf")
	createNet(t, netA)
	createNet(t, netB)
	body := `{"Image":"` + img + `","Cmd":["sleep","300"],"HostConfig":{},"NetworkingConfig":{"EndpointsConfig":{"` +
		netA + `":{"GwPriority":1},"` + netB + `":{}}}}`
	resp, out := d.Do(t, "POST", "/v1.48/containers/create", body)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, out)
	}
	id := out[strings.Index(out, `"Id":"`)+6:][:64]
	t.Cleanup(func() { d.Docker("rm", "-f", id) })
	d.DockerT(t, "start", id)
	nets := ctrInspect(t, d, id).NetworkSettings.Networks
	if len(nets) != 2 || nets[netA] == nil || nets[netB] == nil {
		t.Fatalf("the container is on %v, want %s and %s only", nets, netA, netB)
	}
	if r := epDefaultRoute(t, id); !strings.Contains(r, "via "+epGateway(t, id, netA)+" ") {
		t.Fatalf("default route %q, want via %s", r, netA)
	}
}
