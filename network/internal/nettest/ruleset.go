package nettest

import (
	"os/exec"
	"strings"
	"testing"
)

// Ruleset returns `nft list ruleset` without the tables of other berth
// daemons and tests (every table named berth*, except own), which tests
// running beside this one (other packages, other developers' daemons)
// change at any moment; a before/after comparison then sees only what this
// test did.
func Ruleset(t testing.TB, own string) string {
	t.Helper()
	RequireTool(t, "nft", "nftables")
	out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v: %s", err, out)
	}
	var b strings.Builder
	skip := false
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if strings.HasPrefix(line, "table ") {
			f := strings.Fields(line)
			skip = len(f) >= 3 && strings.HasPrefix(f[2], "berth") && f[2] != own
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
