package buildkit

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	gatewaypb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/tonistiigi/fsutil"

	"github.com/berthd/berth/integration/internal/harness"
)

// lockedBuffer is a process's output stream read after it ended.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) Close() error { return nil }

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestGatewayContainerExec: a frontend's container (what `buildx debug`
// and interactive frontends use) runs its first process on berth's
// runtime and further ones as execs into it, each with its own output
// and exit code; releasing it ends it and leaves no mount.
func TestGatewayContainerExec(t *testing.T) {
	c := coreClient(t, d)
	ctxDir := busyboxContext(t, map[string]string{})
	var initOut, execOut lockedBuffer
	var execErr, failErr error
	_, err := c.Build(t.Context(), bkclient.SolveOpt{LocalMounts: map[string]fsutil.FS{"ctx": localFS(t, ctxDir)}}, "",
		func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
			def, err := llb.Scratch().File(llb.Copy(llb.Local("ctx"), "/", "/")).Marshal(ctx)
			if err != nil {
				return nil, err
			}
			res, err := gw.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB()})
			if err != nil {
				return nil, err
			}
			ref, err := res.SingleRef()
			if err != nil {
				return nil, err
			}
			ctr, err := gw.NewContainer(ctx, gateway.NewContainerRequest{
				Mounts: []gateway.Mount{{Dest: "/", Ref: ref}}, NetMode: pb.NetMode_NONE, Hostname: "gw",
			})
			if err != nil {
				return nil, err
			}
			defer ctr.Release(context.WithoutCancel(ctx))
			sh := func(script string) []string { return []string{"/bin/busybox", "sh", "-c", script} }
			_, err = ctr.Start(ctx, gateway.StartRequest{
				Args: sh("/bin/busybox echo ready > /ready; exec /bin/busybox sleep 1000"), Stdout: &initOut, Stderr: &initOut,
			})
			if err != nil {
				return nil, err
			}
			p, err := ctr.Start(ctx, gateway.StartRequest{
				Args: sh("for i in $(/bin/busybox seq 200); do [ -f /ready ] && break; /bin/busybox sleep 0.05; done; /bin/busybox cat /ready; /bin/busybox hostname; /bin/busybox cat /proc/1/cmdline | /bin/busybox tr '\\0' ' '"), Stdout: &execOut, Stderr: &execOut,
			})
			if err != nil {
				return nil, err
			}
			execErr = p.Wait()
			p, err = ctr.Start(ctx, gateway.StartRequest{Args: sh("exit 4")})
			if err != nil {
				return nil, err
			}
			failErr = p.Wait()
			return gateway.NewResult(), nil
		}, nil)
	if err != nil {
		t.Fatalf("build: %v\nberthd log:\n%s", err, d.LogTail(30))
	}
	if execErr != nil || execOut.String() != "ready\ngw\n/bin/busybox sleep 1000 " {
		t.Errorf("exec: %v, output %q", execErr, execOut.String())
	}
	var ee *gatewaypb.ExitError
	if !errors.As(failErr, &ee) || ee.ExitCode != 4 {
		t.Errorf("failing exec: %v, want exit code 4", failErr)
	}
	executor := filepath.Join(d.DataRoot, "buildkit", "executor")
	harness.Eventually(t, 20*time.Second, "the released container's root to be unmounted", func() bool { return !mountedUnder(t, executor) })
	if strings.Contains(initOut.String(), "error") {
		t.Errorf("init output %q", initOut.String())
	}
}
