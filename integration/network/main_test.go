package network

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// d is the daemon this package's tests share.
var d *harness.Daemon

func TestMain(m *testing.M) {
	code := harness.Main(m, harness.Options{}, &d)
	if d != nil {
		// The daemon removes its table when it stops; this is the
		// backstop for a daemon that crashed.
		exec.Command("nft", "delete", "table", "inet", tableName(d)).Run()
	}
	os.Exit(code)
}

// tableName mirrors the daemon's choice of nftables table for a data-root.
func tableName(d *harness.Daemon) string {
	h := sha256.Sum256([]byte(d.DataRoot))
	return "berth-" + hex.EncodeToString(h[:4])
}
