package cni

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// leaveNetfilterAsFound undoes, at test end, what portmap (through
// iptables-nft) creates on first use and never removes: the shared
// CNI-HOSTPORT-* chains and the jumps to them, and the nat tables with
// their base chains. Each is removed only when it did not exist before the
// test and holds no pod's rule now, since another runtime on the host may
// have started using it meanwhile.
func leaveNetfilterAsFound(t *testing.T) {
	t.Helper()
	hadChains := exec.Command("iptables", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").Run() == nil
	hadTables := nftTables()
	t.Cleanup(func() {
		if !hadChains {
			removeHostportChains()
		}
		for _, table := range nftTables() {
			if !slices.Contains(hadTables, table) && nftTableEmpty(table) {
				exec.Command("nft", append([]string{"delete"}, strings.Fields(table)...)...).Run()
			}
		}
	})
}

func removeHostportChains() {
	out, err := exec.Command("iptables", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").Output()
	if err != nil || strings.Contains(string(out), "-A CNI-HOSTPORT-DNAT") {
		return
	}
	for _, r := range [][]string{
		{"PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"},
		{"OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"},
		{"POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ"},
	} {
		// Pods attached at once can each insert the jump (portmap checks
		// for it and inserts it in two steps), so delete every copy.
		for i := 0; i < 100 && exec.Command("iptables", append([]string{"-t", "nat", "-D"}, r...)...).Run() == nil; i++ {
		}
	}
	for _, c := range []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"} {
		exec.Command("iptables", "-t", "nat", "-F", c).Run()
		exec.Command("iptables", "-t", "nat", "-X", c).Run()
	}
}

// nftTables lists the iptables-nft tables ("ip nat", "ip6 filter", ...);
// berth's own inet tables are not iptables' and are left out.
func nftTables() []string {
	out, _ := exec.Command("nft", "list", "tables").Output()
	var tables []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "table" && (f[1] == "ip" || f[1] == "ip6") {
			tables = append(tables, "table "+f[1]+" "+f[2])
		}
	}
	return tables
}

// nftTableEmpty reports whether a table has nothing but chain heads.
func nftTableEmpty(table string) bool {
	out, err := exec.Command("nft", append([]string{"list"}, strings.Fields(table)...)...).Output()
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "", l == "}", strings.HasPrefix(l, "table "), strings.HasPrefix(l, "chain "), strings.HasPrefix(l, "type "):
		default:
			return false
		}
	}
	return true
}
