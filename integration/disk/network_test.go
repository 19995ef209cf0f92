package disk

import (
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/integration/internal/loopfs"
)

// TestNetworkLeaveNoSpace: a container stopped and removed while the
// data-root is full (its address release cannot be written) still gives
// its address back, both to the running daemon and across a restart
// made before any space came back; nothing is left on the network.
func TestNetworkLeaveNoSpace(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{})
	addr := func(name string) string {
		t.Helper()
		return strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name))
	}
	d.DockerT(t, "run", "-d", "--name", "web1", harness.BusyboxImage, "sleep", "1000")
	first := addr("web1")
	fs.Fill(0)
	d.DockerT(t, "stop", "-t", "1", "web1")
	d.DockerT(t, "rm", "web1")
	fs.Unfill()
	d.DockerT(t, "run", "-d", "--name", "web2", harness.BusyboxImage, "sleep", "1000")
	if got := addr("web2"); got != first {
		t.Fatalf("the next container got %s, not the removed one's %s: an address leaked", got, first)
	}

	fs.Fill(0)
	d.DockerT(t, "rm", "-f", "web2")
	if err := d.Restart(false); err != nil {
		t.Fatal(err)
	}
	fs.Unfill()
	d.DockerT(t, "run", "-d", "--name", "web3", harness.BusyboxImage, "sleep", "1000")
	if got := addr("web3"); got != first {
		t.Fatalf("after a restart the next container got %s, not the removed one's %s: an address leaked", got, first)
	}
	if got := d.DockerT(t, "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "bridge"); got != "web3 \n" {
		t.Fatalf("containers on the bridge: %q, want web3 alone", got)
	}
	d.CheckMetadata(t)
	d.DockerT(t, "rm", "-f", "web3")
}

// TestNetworkConnectNoSpace: a network create and a connect on a full
// data-root fail with ENOSPC and change nothing, also across a restart;
// both work once the space is back.
func TestNetworkConnectNoSpace(t *testing.T) {
	d, fs := newDaemon(t, loopfs.Options{})
	d.DockerT(t, "network", "create", "--subnet", "10.213.7.0/24", "front")
	d.DockerT(t, "run", "-d", "--stop-timeout", "1", "--name", "web", harness.BusyboxImage, "sleep", "1000")
	nets := func() string {
		return d.DockerT(t, "inspect", "-f", "{{range $n, $e := .NetworkSettings.Networks}}{{$n}} {{end}}", "web")
	}
	before := nets()
	fs.Fill(0)
	out, errOut, err := d.Docker("network", "create", "--subnet", "10.213.8.0/24", "back")
	wantNoSpace(t, "docker network create", err, out, errOut)
	out, errOut, err = d.Docker("network", "connect", "front", "web")
	wantNoSpace(t, "docker network connect", err, out, errOut)
	check := func(when string) {
		t.Helper()
		if got := nets(); got != before {
			t.Fatalf("%s: web is on %q, before %q", when, got, before)
		}
		if got := d.DockerT(t, "network", "inspect", "-f", "{{len .Containers}}", "front"); got != "0\n" {
			t.Fatalf("%s: %s containers on front", when, got)
		}
		if _, _, err := d.Docker("network", "inspect", "back"); err == nil {
			t.Fatalf("%s: the failed network is listed", when)
		}
		d.CheckMetadata(t)
	}
	check("after the failures")
	// The shutdown stops web (no live-restore), with the disk still
	// full: its leave cannot be written either.
	if err := d.Restart(false); err != nil {
		t.Fatal(err)
	}
	check("after a restart")

	fs.Unfill()
	d.DockerT(t, "start", "web")
	d.DockerT(t, "network", "create", "--subnet", "10.213.8.0/24", "back")
	d.DockerT(t, "network", "connect", "front", "web")
	d.DockerT(t, "exec", "web", "ping", "-c", "1", "-W", "2", "10.213.7.1")
	d.DockerT(t, "rm", "-f", "web")
	d.DockerT(t, "network", "rm", "front", "back")
}
