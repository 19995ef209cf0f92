package executor

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	bk "github.com/moby/buildkit/executor"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/sys/user"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/runtime/bundletest"
)

// hostMount is a mountable of ready-made mounts, standing in for
// BuildKit's snapshots: a bind of a host directory or a tmpfs.
type hostMount []mount.Mount

func (m hostMount) Mount(_ context.Context, readonly bool) (bk.MountableRef, error) {
	ms := append([]mount.Mount(nil), m...)
	if readonly {
		for i := range ms {
			ms[i].Options = append(append([]string(nil), ms[i].Options...), "ro")
		}
	}
	return hostMountRef(ms), nil
}

type hostMountRef []mount.Mount

func (r hostMountRef) Mount() ([]mount.Mount, func() error, error) {
	return r, func() error { return nil }, nil
}

func (hostMountRef) IdentityMapping() *user.IdentityMapping { return nil }

func bindOf(dir string) hostMount {
	return hostMount{{Type: "bind", Source: dir, Options: []string{"rbind"}}}
}

// testRoot is a busybox root filesystem as a step's root mount.
func testRoot(t testing.TB) bk.Mount {
	t.Helper()
	bundletest.Require(t)
	return bk.Mount{Src: bindOf(bundletest.Rootfs(t, t.TempDir()))}
}

// newTestExecutor returns an executor under a fresh root and checks, at
// the end of the test, that nothing is left mounted there.
func newTestExecutor(t testing.TB, opts Options) *Executor {
	t.Helper()
	bundletest.Require(t)
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	if opts.CgroupParent == "" {
		// A parent of the test's own, removed at its end.
		opts.CgroupParent = "berth-bkexec-test-" + strings.ReplaceAll(strings.TrimPrefix(opts.Root, os.TempDir()+"/"), "/", "-")
	}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range []string{opts.CgroupParent + "/buildkit", opts.CgroupParent} {
			if cg, err := cgroups.New(p); err == nil {
				_ = cg.Destroy()
			}
		}
		if ms := mountsUnder(t, e.root); len(ms) > 0 {
			t.Errorf("left mounted: %v", ms)
		}
	})
	return e
}

func mountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			out = append(out, fields[4])
		}
	}
	return out
}

// safeBuffer is an output stream that tests read while a step writes.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *safeBuffer) Close() error { return nil }

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var testPath = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// stepMeta is a step running args in the test root's usual environment.
func stepMeta(args []string) bk.Meta {
	return bk.Meta{Args: args, Env: testPath, Cwd: "/"}
}

func processInfo(meta bk.Meta, stdout, stderr *safeBuffer) bk.ProcessInfo {
	return bk.ProcessInfo{Meta: meta, Stdout: stdout, Stderr: stderr}
}

// runStep runs args in a busybox step and returns its stdout, stderr and
// Run's error.
func runStep(t testing.TB, e *Executor, meta bk.Meta, mounts ...bk.Mount) (string, string, error) {
	t.Helper()
	if meta.Env == nil {
		meta.Env = testPath
	}
	if meta.Cwd == "" {
		meta.Cwd = "/"
	}
	if meta.NetMode == pb.NetMode_UNSET {
		// The default network needs the daemon's provider.
		meta.NetMode = pb.NetMode_NONE
	}
	var stdout, stderr safeBuffer
	_, err := e.Run(context.Background(), "", testRoot(t), mounts, bk.ProcessInfo{Meta: meta, Stdout: &stdout, Stderr: &stderr}, nil)
	return stdout.String(), stderr.String(), err
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// cgroupDir is the directory of the cgroup at path: the pids
// controller's on a v1 host.
func cgroupDir(t testing.TB, path string) string {
	t.Helper()
	cg, err := cgroups.New(path)
	if err != nil {
		t.Fatal(err)
	}
	return cg.Path("pids")
}

// cgroupGone reports that the cgroup of e's step id no longer exists.
func cgroupGone(t testing.TB, e *Executor, id string) bool {
	t.Helper()
	_, err := os.Stat(cgroupDir(t, e.cgroupPath(id)))
	return os.IsNotExist(err)
}
