package shim_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestShimInitialisesEarly guards what makes a shim cheap: it runs from
// pkg/shim's initialisation, so it must not depend on a package that Go
// initialises late. Package net is the one that matters: its dependencies
// sort last, so importing it would make every shim initialise berthd's
// image, registry and HTTP packages first (about 0.6 MiB of heap that
// stays for the container's life, and 2 ms of its start).
func TestShimInitialisesEarly(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("go not found")
		}
		t.Skip("go not found")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/berthd/berth/pkg/shim").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "net" || strings.HasPrefix(p, "net/http") || p == "text/tabwriter" {
			t.Errorf("pkg/shim depends on %s", p)
		}
	}
}
