package buildkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/filesync"
	buildtypes "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/tonistiigi/fsutil"
	"google.golang.org/protobuf/proto"

	"github.com/berthd/berth/integration/internal/harness"
)

// legacyCLIBuild runs docker 20.10's `docker build` with DOCKER_BUILDKIT=1
// (stdin, if set, as its input) and returns its output.
func legacyCLIBuild(t *testing.T, stdin io.Reader, args ...string) []byte {
	t.Helper()
	setup(t)
	_, err := os.Stat(legacyCLI)
	harness.Require(t, err == nil, "%s (Debian package docker.io)", legacyCLI)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, legacyCLI, append([]string{"build", "--progress=plain"}, args...)...)
	cmd.Env = cliEnv("DOCKER_BUILDKIT=1")
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker 20.10 build %v with DOCKER_BUILDKIT=1: %v\n%s", args, err, lastLines(string(out), 40))
	}
	return out
}

// legacySession opens a BuildKit session on POST /session that serves dir
// as the "context" and "dockerfile" directories, as docker CLI 20.10 does
// for DOCKER_BUILDKIT=1 builds, and returns its ID.
func legacySession(t *testing.T, api *client.Client, dir string) string {
	t.Helper()
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := session.NewSession(t.Context(), "berth-legacy-test")
	if err != nil {
		t.Fatal(err)
	}
	s.Allow(filesync.NewFSSyncProvider(filesync.StaticDirSource{"context": fs, "dockerfile": fs}))
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = s.Run(context.WithoutCancel(t.Context()), func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return api.DialHijack(ctx, "/session", proto, meta)
		})
	}()
	t.Cleanup(func() { s.Close(); <-ran })
	return s.ID()
}

// legacyBuild starts a BuildKit build through POST /build?version=2 with
// moby's Go client, dir served by a session, and returns the client and
// the response stream.
func legacyBuild(t *testing.T, ctx context.Context, dir string, opts client.ImageBuildOptions) (*client.Client, io.ReadCloser) {
	t.Helper()
	setup(t)
	api, err := d.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	opts.Version = buildtypes.BuilderBuildKit
	opts.SessionID = legacySession(t, api, dir)
	opts.RemoteContext = "client-session"
	res, err := api.ImageBuild(ctx, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return api, res.Body
}

// legacyStream is a POST /build?version=2 response decoded: BuildKit's
// status messages (aux moby.buildkit.trace, base64 protobuf), the image
// ID (aux moby.image.id) and the error, if any.
type legacyStream struct {
	vertexes map[string]bool // names of the vertexes the status reported
	traces   int
	imageID  string
	err      *jsonstream.Error
}

// readLegacyStream decodes body; onVertex, if set, sees each vertex as
// it arrives.
func readLegacyStream(t *testing.T, body io.Reader, onVertex func(*controlapi.Vertex)) legacyStream {
	t.Helper()
	st := legacyStream{vertexes: map[string]bool{}}
	dec := json.NewDecoder(body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return st
		} else if err != nil {
			t.Fatalf("build stream: %v", err)
		}
		if m.Error != nil {
			st.err = m.Error
		}
		if m.Aux == nil {
			continue
		}
		switch m.ID {
		case "moby.buildkit.trace":
			var dt []byte // JSON base64, as dockerd encodes it
			if err := json.Unmarshal(*m.Aux, &dt); err != nil {
				t.Fatalf("trace aux %s: %v", *m.Aux, err)
			}
			var sr controlapi.StatusResponse
			if err := proto.Unmarshal(dt, &sr); err != nil {
				t.Fatalf("trace aux is not a StatusResponse: %v", err)
			}
			st.traces++
			for _, v := range sr.Vertexes {
				st.vertexes[v.Name] = true
				if onVertex != nil {
					onVertex(v)
				}
			}
		case "moby.image.id":
			var r buildtypes.Result
			if err := json.Unmarshal(*m.Aux, &r); err != nil {
				t.Fatalf("image ID aux %s: %v", *m.Aux, err)
			}
			st.imageID = r.ID
		}
	}
}

// TestLegacyAPIBuildKit: an SDK's BuildKit build through the classic
// endpoint (moby's Go client, ImageBuild with Version 2 and a session)
// builds with its parameters applied and reports as dockerd does.
func TestLegacyAPIBuildKit(t *testing.T) {
	name := imageName(t)
	dir := writeContext(t, map[string]string{
		"build.Dockerfile": "FROM busybox AS first\nRUN echo skipped > /s\n\nFROM busybox AS wanted\nARG X\nCOPY f /f\nRUN echo \"$X\" >> /f\n",
		"f":                "ctx\n",
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	x := "from-arg"
	api, body := legacyBuild(t, ctx, dir, client.ImageBuildOptions{
		Dockerfile: "build.Dockerfile",
		Target:     "wanted",
		Tags:       []string{name},
		BuildArgs:  map[string]*string{"X": &x},
		Labels:     map[string]string{"built.by": "legacy-api"},
		BuildID:    "legacy-api-build",
	})
	st := readLegacyStream(t, body, nil)
	if st.err != nil {
		t.Fatalf("build failed: %s", st.err.Message)
	}
	if st.traces == 0 || !st.vertexes[`[wanted 3/3] RUN echo "from-arg" >> /f`] {
		t.Fatalf("BuildKit status (%d messages) lacks the RUN step: %v", st.traces, st.vertexes)
	}
	for v := range st.vertexes {
		if strings.Contains(v, "echo skipped") {
			t.Errorf("target ignored: %q ran", v)
		}
	}
	insp, err := api.ImageInspect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if st.imageID == "" || insp.ID != st.imageID {
		t.Errorf("moby.image.id %q, %s is %q", st.imageID, name, insp.ID)
	}
	if got := insp.Config.Labels["built.by"]; got != "legacy-api" {
		t.Errorf("label built.by = %q", got)
	}
	expectRun(t, name, "cat /f", "ctx\nfrom-arg")
}

// TestLegacyAPIBuildKitCancel: POST /build/cancel with the build's ID
// stops a running BuildKit build.
func TestLegacyAPIBuildKitCancel(t *testing.T) {
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN sleep 120\n"})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const id = "legacy-api-cancel"
	api, body := legacyBuild(t, ctx, dir, client.ImageBuildOptions{BuildID: id, NoCache: true})
	began := time.Now()
	cancelled := false
	st := readLegacyStream(t, body, func(v *controlapi.Vertex) {
		if !cancelled && v.Started != nil && strings.Contains(v.Name, "RUN sleep 120") {
			cancelled = true
			if _, err := api.BuildCancel(ctx, id, client.BuildCancelOptions{}); err != nil {
				t.Errorf("cancel: %v", err)
			}
		}
	})
	if !cancelled {
		t.Fatalf("the RUN step never started: %v", st.vertexes)
	}
	t.Logf("cancelled build: %+v", st.err)
	if took := time.Since(began); took > 60*time.Second || st.err == nil || !strings.Contains(st.err.Message, "cancel") {
		t.Fatalf("after cancel: error %+v, build took %s", st.err, took)
	}
}

// TestLegacyAPIBuildKitRefusals: what BuildKit through /build cannot do
// is a plain 400, as with dockerd (squash without experimental) or
// stated (an uploaded context tar).
func TestLegacyAPIBuildKitRefusals(t *testing.T) {
	for _, c := range []struct{ query, want string }{
		{"version=2&squash=1&remote=client-session&session=x", "squash is only supported with experimental mode"},
		{"version=2&remote=upload-request", "needs a buildid"},
		{"version=2&buildid=upload-request:nobody", "no build nobody waits for an uploaded context"},
		{"version=2&remote=client-session&session=x&networkmode=bridge", "not supported by buildkit"},
	} {
		resp, body := d.Do(t, "POST", "/build?"+c.query, "")
		if resp.StatusCode != 400 || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want 400 %q", c.query, resp.StatusCode, body, c.want)
		}
	}
}

// TestLegacyCLIBuildKitOptions: docker 20.10's DOCKER_BUILDKIT=1 build
// with the parameters that change the solve: --network, --add-host,
// --build-arg and an output to a local directory (through the session).
func TestLegacyCLIBuildKitOptions(t *testing.T) {
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nARG A\nRUN grep legacy.example /etc/hosts > /out && echo \"$A\" >> /out && ls /sys/class/net >> /out\n"})
	out := filepath.Join(t.TempDir(), "out")
	legacyCLIBuild(t, nil, "--network=none", "--add-host=legacy.example:10.1.2.3", "--build-arg", "A=arg-value", "-o", "type=local,dest="+out, dir)
	got, err := os.ReadFile(filepath.Join(out, "out"))
	if err != nil {
		t.Fatalf("local output: %v", err)
	}
	// --network=none leaves only the loopback interface.
	if want := "10.1.2.3\tlegacy.example\narg-value\nlo\n"; string(got) != want {
		t.Errorf("RUN wrote %q, want %q", got, want)
	}
}

// contextTar is dir as a tar stream, the body of a classic POST /build.
func contextTar(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := exec.Command("tar", "-C", dir, "-c", ".").Output()
	if err != nil {
		t.Fatalf("tar %s: %v", dir, err)
	}
	return b
}

// TestLegacyAPIBuildKitBodyContext: a BuildKit build whose context is the
// request's body (an SDK's ImageBuild with Version 2 and no session).
func TestLegacyAPIBuildKitBodyContext(t *testing.T) {
	setup(t)
	api, err := d.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY f /f\nRUN echo body >> /f\n", "f": "tar\n"})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	res, err := api.ImageBuild(ctx, bytes.NewReader(contextTar(t, dir)), client.ImageBuildOptions{
		Version: buildtypes.BuilderBuildKit, Tags: []string{name},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	st := readLegacyStream(t, res.Body, nil)
	if st.err != nil || st.imageID == "" {
		t.Fatalf("build: error %+v, image %q, steps %v", st.err, st.imageID, st.vertexes)
	}
	expectRun(t, name, "cat /f", "tar\nbody")
}

// TestLegacyCLIBuildKitStdinTar: docker 20.10's `docker build - <
// ctx.tar` with DOCKER_BUILDKIT=1 sends the tar in a second request
// (buildid=upload-request:<id>) beside the build (remote=upload-request).
func TestLegacyCLIBuildKitStdinTar(t *testing.T) {
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY f /f\nRUN echo stdin >> /f\n", "f": "tar\n"})
	legacyCLIBuild(t, bytes.NewReader(contextTar(t, dir)), "-t", name, "-")
	expectRun(t, name, "cat /f", "tar\nstdin")
}

// TestLegacyAPIBuildKitAddURL: ADD of a URL still goes out through the
// HTTP source that also serves uploaded contexts (a loopback server).
func TestLegacyAPIBuildKitAddURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "from-url\n")
	}))
	defer srv.Close()
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD " + srv.URL + "/file /f\n"})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, body := legacyBuild(t, ctx, dir, client.ImageBuildOptions{Tags: []string{name}})
	if st := readLegacyStream(t, body, nil); st.err != nil {
		t.Fatalf("build: %s", st.err.Message)
	}
	expectRun(t, name, "cat /f", "from-url")
}
