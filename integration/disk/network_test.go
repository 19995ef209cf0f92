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
