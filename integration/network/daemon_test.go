package network

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// freshNet creates a network on a test's own daemon and removes its bridge
// even if the test fails (the daemon's cleanup only knows its default
// bridge).
func freshNet(t *testing.T, dd *harness.Daemon, name string, args ...string) string {
	t.Helper()
	out := dd.DockerT(t, append(append([]string{"network", "create"}, args...), name)...)
	id := strings.TrimSpace(out)
	t.Cleanup(func() {
		if linkExists("br-" + id[:12]) {
			exec.Command("ip", "link", "del", "br-"+id[:12]).Run()
		}
	})
	return id
}

func tableExists(t *testing.T, dd *harness.Daemon) bool {
	return strings.Contains(ruleset(t), "table inet "+tableName(dd)+" ")
}

func TestInfoFirewallBackend(t *testing.T) {
	out := d.DockerT(t, "info", "--format", "{{json .FirewallBackend}}")
	var fb struct {
		Driver string
		Info   [][2]string
	}
	if err := json.Unmarshal([]byte(out), &fb); err != nil || fb.Driver != "nftables" || len(fb.Info) != 1 || fb.Info[0][1] != "inet "+tableName(d) {
		t.Fatalf("FirewallBackend: %v %s", err, out)
	}
}

// foreignRuleset is the ruleset without any berth daemon's table: other
// test daemons running beside this package change theirs at any moment.
func foreignRuleset(t *testing.T) string {
	var b strings.Builder
	skip := false
	for _, line := range strings.SplitAfter(ruleset(t), "\n") {
		if strings.HasPrefix(line, "table ") {
			f := strings.Fields(line)
			skip = len(f) >= 3 && (f[2] == "berth" || strings.HasPrefix(f[2], "berth-"))
		}
		if !skip {
			b.WriteString(line)
		}
		if skip && strings.HasPrefix(line, "}") {
			skip = false
		}
	}
	return b.String()
}

func TestIPTablesFalseLeavesNetfilterAlone(t *testing.T) {
	before := foreignRuleset(t)
	dd := harness.Fresh(t, harness.Options{}, "--iptables=false")
	subnet, _, _ := testSubnet()
	freshNet(t, dd, uniq("nofw"), "--subnet", subnet)
	dd.DockerT(t, "network", "ls")
	if tableExists(t, dd) {
		t.Fatal("--iptables=false made a table")
	}
	if after := foreignRuleset(t); after != before {
		t.Fatalf("--iptables=false changed the ruleset:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if out := dd.DockerT(t, "info", "--format", "{{json .FirewallBackend}}"); strings.TrimSpace(out) != "null" {
		t.Fatalf("FirewallBackend with --iptables=false: %s", out)
	}
}

func TestNetworksSurviveCrashAndRulesAreRebuilt(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{})
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", tableName(dd)).Run() })
	subnet, gw, _ := testSubnet()
	name := uniq("keep")
	id := freshNet(t, dd, name, "--subnet", subnet, "-o", "com.docker.network.bridge.enable_icc=false")
	if !tableExists(t, dd) {
		t.Fatal("no table after create")
	}
	if err := dd.Restart(true); err != nil {
		t.Fatal(err)
	}
	out := dd.DockerT(t, "network", "inspect", "--format", "{{.ID}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", name)
	if strings.TrimSpace(out) != id+" "+subnet+" "+gw {
		t.Fatalf("after kill -9 and restart: %q", out)
	}
	// The rules come back (the background setup rebuilds the table) and
	// a clean stop removes them.
	dd.DockerT(t, "network", "ls")
	// icc=false: the bridge is one of berth's, but not in the set of
	// bridges whose containers may talk to each other.
	br := `"br-` + id[:12] + `"`
	if rs := ruleset(t); !strings.Contains(rs, br) || gwInICCSet(rs, "br-"+id[:12]) || !strings.Contains(rs, "berth-net "+id) {
		t.Fatalf("rules not rebuilt after restart:\n%s", rs)
	}
	dd.DockerT(t, "network", "rm", name)
	if err := dd.Stop(); err != nil {
		t.Fatal(err)
	}
	if tableExists(t, dd) {
		t.Fatal("table left after the daemon stopped")
	}
}
