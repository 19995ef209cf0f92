package network

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// d is the daemon this package's tests share.
var d *harness.Daemon

func TestMain(m *testing.M) {
	before, nftErr := hostRuleset()
	code := harness.Main(m, harness.Options{Args: poolArgs}, &d)
	if d != nil {
		// The daemon removes its table when it stops: after every test
		// (containers, ports, networks, restarts) the host's ruleset
		// must be what it was, apart from other berth daemons' tables.
		if out, err := exec.Command("nft", "list", "table", "inet", tableName(d)).CombinedOutput(); err == nil {
			fmt.Fprintf(os.Stderr, "the daemon's table %s outlived it:\n%s\n", tableName(d), out)
			code = 1
		}
		if after, err := hostRuleset(); nftErr == nil && err == nil && after != before {
			fmt.Fprintf(os.Stderr, "the host's nftables ruleset changed:\nbefore:\n%s\nafter:\n%s\n", before, after)
			code = 1
		}
		// The backstop for a daemon that crashed.
		exec.Command("nft", "delete", "table", "inet", tableName(d)).Run()
	}
	os.Exit(code)
}

// poolArgs give the test daemons a default address pool of their own:
// every daemon on the host draws from the same built-in pools, and leftover
// bridges of other runs can exhaust them.
var poolArgs = []string{"--default-address-pool", "base=10.96.0.0/11,size=24"}

// hostRuleset is `nft list ruleset` without any berth table, since other
// test packages' daemons and unit tests run beside this one.
func hostRuleset() (string, error) {
	out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	skip := false
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if strings.HasPrefix(line, "table ") {
			f := strings.Fields(line)
			// berth, berth-<hash> (daemons), berthtest… (unit tests).
			skip = len(f) >= 3 && strings.HasPrefix(f[2], "berth")
		}
		if !skip {
			b.WriteString(line)
		}
		if skip && strings.HasPrefix(line, "}") {
			skip = false
		}
	}
	return b.String(), nil
}

// tableName is the daemon's nftables table.
func tableName(d *harness.Daemon) string { return d.NftTable() }
