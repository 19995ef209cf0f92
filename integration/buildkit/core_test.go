package buildkit

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	buildtypes "github.com/moby/moby/api/types/build"
	"github.com/tonistiigi/fsutil"

	"github.com/berthd/berth/integration/internal/harness"
	"github.com/berthd/berth/integration/internal/testimage"
)

// coreClient is BuildKit's Go client on berthd as buildx's docker driver
// makes it: the control API over a hijacked POST /grpc, sessions over
// POST /session.
func coreClient(t *testing.T, on *harness.Daemon) *bkclient.Client {
	t.Helper()
	api, err := on.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	c, err := bkclient.New(t.Context(), "",
		bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return api.DialHijack(ctx, "/grpc", "h2c", nil)
		}),
		bkclient.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return api.DialHijack(ctx, "/session", proto, meta)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// busyboxContext is a build context holding only the host's static
// busybox: a root filesystem for RUN that needs no image.
func busyboxContext(t *testing.T, files map[string]string) string {
	t.Helper()
	bb, err := os.ReadFile(testimage.Busybox)
	harness.Require(t, err == nil, "%s (Debian's busybox-static): %v", testimage.Busybox, err)
	files["bin/busybox"] = string(bb)
	dir := writeContext(t, files)
	if err := os.Chmod(filepath.Join(dir, "bin/busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// busyboxRun is an LLB build that copies the local "ctx" (a
// busyboxContext) to an empty root and runs script there with no network.
func busyboxRun(t *testing.T, script string) *llb.Definition {
	t.Helper()
	st := llb.Scratch().File(llb.Copy(llb.Local("ctx"), "/", "/")).
		Run(llb.Args([]string{"/bin/busybox", "sh", "-c", script}), llb.Network(pb.NetMode_NONE)).Root()
	def, err := st.Marshal(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return def
}

func solve(t *testing.T, c *bkclient.Client, def *llb.Definition, opt bkclient.SolveOpt) *bkclient.SolveResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	res, err := c.Solve(ctx, def, opt, nil)
	if err != nil {
		t.Fatalf("solve: %v\nberthd log:\n%s", err, d.LogTail(30))
	}
	return res
}

func localFS(t *testing.T, dir string) fsutil.FS {
	t.Helper()
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestCoreGoClientSolvesOnBerth drives the embedded BuildKit as buildx
// does, without the CLI: the worker it lists, an LLB build whose RUN runs
// on berth's runtime with its context synced over /session and its result
// exported to a local directory, and a Dockerfile build through the
// dockerfile.v0 frontend exported as a tarball.
func TestCoreGoClientSolvesOnBerth(t *testing.T) {
	c := coreClient(t, d)

	ws, err := c.ListWorkers(t.Context())
	if err != nil {
		t.Fatalf("list workers: %v", err)
	}
	if len(ws) != 1 || len(ws[0].Platforms) == 0 || !strings.HasPrefix(ws[0].BuildkitVersion.Version, "v0.") {
		t.Fatalf("workers %+v: want berth's one worker with its platforms and BuildKit's version", ws)
	}

	ctxDir := busyboxContext(t, map[string]string{"greeting": "hello from the context\n"})
	def := busyboxRun(t, "/bin/busybox cat /greeting > /out; /bin/busybox id -u >> /out")
	out := t.TempDir()
	solve(t, c, def, bkclient.SolveOpt{
		LocalMounts: map[string]fsutil.FS{"ctx": localFS(t, ctxDir)},
		Exports:     []bkclient.ExportEntry{{Type: bkclient.ExporterLocal, OutputDir: out}},
	})
	got, err := os.ReadFile(filepath.Join(out, "out"))
	if err != nil || string(got) != "hello from the context\n0\n" {
		t.Fatalf("RUN's output %q (%v)", got, err)
	}

	dfDir := writeContext(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY greeting /etc/greeting\n",
		"greeting":   "hi\n",
	})
	tarball := filepath.Join(t.TempDir(), "out.tar")
	solve(t, c, nil, bkclient.SolveOpt{
		Frontend:    "dockerfile.v0",
		LocalMounts: map[string]fsutil.FS{"context": localFS(t, dfDir), "dockerfile": localFS(t, dfDir)},
		Exports: []bkclient.ExportEntry{{Type: bkclient.ExporterTar, Output: func(map[string]string) (io.WriteCloser, error) {
			return os.Create(tarball)
		}}},
	})
	if files := tarFiles(t, tarball); files["etc/greeting"] != "hi\n" {
		t.Fatalf("tar exporter wrote %v, want etc/greeting", files)
	}

	// The "moby" exporter (buildx's docker driver, -t / --load) writes
	// berth's image store.
	const name = "bk-core-moby:1"
	t.Cleanup(func() { d.Do(t, "DELETE", "/images/"+name+"?force=1", "") })
	res := solve(t, c, nil, bkclient.SolveOpt{
		Frontend:    "dockerfile.v0",
		LocalMounts: map[string]fsutil.FS{"context": localFS(t, dfDir), "dockerfile": localFS(t, dfDir)},
		Exports:     []bkclient.ExportEntry{{Type: "moby", Attrs: map[string]string{"name": name}}},
	})
	resp, body := d.Do(t, "GET", "/images/"+name+"/json", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, res.ExporterResponse["containerimage.digest"]) {
		t.Fatalf("image %s after the moby export (%v): %s %s", name, res.ExporterResponse, resp.Status, body)
	}
}

// TestCoreBuildCacheDiskUsageAndPrune fills the cache with a build, sees
// it in GET /system/df, and empties it with POST /build/prune?all=1; no
// mount of a step is left behind.
func TestCoreBuildCacheDiskUsageAndPrune(t *testing.T) {
	c := coreClient(t, d)
	ctxDir := busyboxContext(t, map[string]string{})
	def := busyboxRun(t, "/bin/busybox dd if=/dev/zero of=/blob bs=1024 count=512 2>/dev/null")
	solve(t, c, def, bkclient.SolveOpt{LocalMounts: map[string]fsutil.FS{"ctx": localFS(t, ctxDir)}})

	records := func() (buildtypes.DiskUsage, []buildtypes.CacheRecord) {
		t.Helper()
		resp, body := d.Do(t, "GET", "/system/df?type=build-cache", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("df: %s %s", resp.Status, body)
		}
		var du struct {
			BuildCache      []buildtypes.CacheRecord
			BuildCacheUsage buildtypes.DiskUsage
		}
		if err := json.Unmarshal([]byte(body), &du); err != nil {
			t.Fatalf("df %s: %v", body, err)
		}
		return du.BuildCacheUsage, du.BuildCache
	}
	usage, recs := records()
	var big bool
	for _, r := range recs {
		big = big || (r.Type == "regular" && r.Size >= 512*1024)
	}
	if usage.TotalCount == 0 || int(usage.TotalCount) != len(recs) || usage.TotalSize < 512*1024 || !big {
		t.Fatalf("df after a build: %+v %+v", usage, recs)
	}

	resp, body := d.Do(t, "POST", "/build/prune?all=1", "")
	var rep buildtypes.CachePruneReport
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &rep) != nil {
		t.Fatalf("prune: %s %s", resp.Status, body)
	}
	if len(rep.CachesDeleted) == 0 || rep.SpaceReclaimed < 512*1024 {
		t.Fatalf("prune removed %+v", rep)
	}
	if usage, recs := records(); usage.TotalCount != 0 || len(recs) != 0 {
		t.Fatalf("df after prune: %+v %+v", usage, recs)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), filepath.Join(d.DataRoot, "buildkit", "executor")) {
		t.Fatalf("a build step's mount is left:\n%s", mounts)
	}
}

// TestCoreBuildKitOff: with features.buildkit false the daemon advertises
// the classic builder and has no BuildKit behind /grpc, so buildx falls
// back as with a daemon without BuildKit, and `docker build` stays on
// POST /build.
func TestCoreBuildKitOff(t *testing.T) {
	off := harness.Fresh(t, harness.Options{Config: `{"features":{"buildkit":false}}`})
	resp, _ := off.Do(t, "GET", "/_ping", "")
	if v := resp.Header.Get("Builder-Version"); v != "1" {
		t.Errorf("Builder-Version %q with BuildKit off, want 1", v)
	}
	resp, body := off.Do(t, "POST", "/grpc", "")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /grpc without upgrade: %s %s", resp.Status, body)
	}
	api, err := off.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	if conn, err := api.DialHijack(t.Context(), "/grpc", "h2c", nil); err == nil {
		conn.Close()
		t.Error("POST /grpc upgraded with BuildKit off")
	}
	if _, err := os.Stat(filepath.Join(off.DataRoot, "buildkit")); !os.IsNotExist(err) {
		t.Errorf("BuildKit's root exists with BuildKit off: %v", err)
	}
	resp, _ = d.Do(t, "GET", "/_ping", "")
	if v := resp.Header.Get("Builder-Version"); v != "2" {
		t.Errorf("Builder-Version %q with BuildKit on, want 2", v)
	}
}
