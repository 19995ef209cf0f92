package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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

// pauseImage is the daemon's --pod-sandbox-image: built by setup from the
// test image, so no test reaches a registry.
const pauseImage = "berth.test/pause:1"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-cri-net.d-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cniConfDir = dir
	code := harness.Main(m, harness.Options{Args: []string{"--cni-conf-dir", cniConfDir, "--pod-sandbox-image", pauseImage}}, &d)
	os.RemoveAll(dir)
	os.Exit(code)
}

// criSocket is the daemon's CRI socket (EXEC-ROOT/cri.sock by default).
func criSocket() string { return criSocketOf(d) }

func criSocketOf(dd *harness.Daemon) string { return filepath.Join(dd.ExecRoot, "cri.sock") }

// setupDone remembers the daemons setup prepared.
var (
	setupMu   sync.Mutex
	setupDone = map[*harness.Daemon]bool{}
)

// setup loads the test images into dd and builds the pause image from
// them.
func setup(t testing.TB, dd *harness.Daemon) {
	t.Helper()
	setupMu.Lock()
	defer setupMu.Unlock()
	if setupDone[dd] {
		return
	}
	dd.LoadTestImages(t)
	dd.BuildPauseImage(t, pauseImage)
	setupDone[dd] = true
}

// clients dials the CRI socket; the connection closes with the test.
func clients(t testing.TB) (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) {
	t.Helper()
	setup(t, d)
	return clientsOf(t, d)
}

// clientsOf dials dd's CRI socket.
func clientsOf(t testing.TB, dd *harness.Daemon) (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+criSocketOf(dd), grpc.WithTransportCredentials(insecure.NewCredentials()))
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
