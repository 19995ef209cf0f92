package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/integration/internal/harness"
)

// d is the daemon this package's tests share; cniConfDir is its private
// --cni-conf-dir, where tests that need pod networking write a conflist.
var (
	d          *harness.Daemon
	cniConfDir string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-cri-net.d-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cniConfDir = dir
	code := harness.Main(m, harness.Options{Args: []string{"--cni-conf-dir", cniConfDir}}, &d)
	os.RemoveAll(dir)
	os.Exit(code)
}

// criSocket is the daemon's CRI socket (EXEC-ROOT/cri.sock by default).
func criSocket() string { return filepath.Join(d.ExecRoot, "cri.sock") }

// clients dials the CRI socket; the connection closes with the test.
func clients(t testing.TB) (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+criSocket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)
}

// ctxT is a context that ends with the test or after a minute.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestSocketIsRootOnly: whoever reaches the CRI controls every pod.
func TestSocketIsRootOnly(t *testing.T) {
	st, err := os.Stat(criSocket())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("CRI socket mode %v, want a 0600 socket", st.Mode())
	}
}
