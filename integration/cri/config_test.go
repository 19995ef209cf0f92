package cri

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestCRISocketConfig: --cri-socket moves the socket, daemon.json's
// "cri": {"enabled": false} turns the CRI off, and --cri=false does too.
func TestCRISocketConfig(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "k8s", "runtime.sock")
	moved := harness.Fresh(t, harness.Options{Args: []string{"--cri-socket", "unix://" + sock}})
	if st, err := os.Stat(sock); err != nil || st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("--cri-socket %s: %v %v", sock, st, err)
	}
	if _, err := os.Stat(criSocketOf(moved)); err == nil {
		t.Errorf("the default socket exists beside --cri-socket")
	}

	off := harness.Fresh(t, harness.Options{Config: `{"cri": {"enabled": false}}`})
	if _, err := os.Stat(criSocketOf(off)); !os.IsNotExist(err) {
		t.Errorf(`"cri": {"enabled": false}: socket %v`, err)
	}
	offFlag := harness.Fresh(t, harness.Options{Args: []string{"--cri=false"}})
	if _, err := os.Stat(criSocketOf(offFlag)); !os.IsNotExist(err) {
		t.Errorf("--cri=false: socket %v", err)
	}
}
