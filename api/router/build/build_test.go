package build

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	buildtypes "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berthd/berth/api/server/servertest"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
)

// fakeBackend records the parsed request and plays one build: its text,
// then its result.
type fakeBackend struct {
	req     backend.BuildRequest
	called  bool
	context string
	// write is the text the build prints before it ends; err its failure.
	write string
	err   error
	// prune is the last /build/prune's options; grpc the BuildKit
	// handler (nil: BuildKit off).
	prune backend.BuildCachePruneOptions
	grpc  http.Handler
	// buildKit says the build went to BuildKit (version=2); cancelled is
	// the last /build/cancel's ID.
	buildKit  bool
	cancelled string
}

func (f *fakeBackend) BuildKitBuild(ctx context.Context, body io.Reader, req backend.BuildRequest, out backend.BuildOutput) (string, error) {
	f.buildKit = true
	return f.Build(ctx, body, req, out)
}

func (f *fakeBackend) BuildKitCancel(_ context.Context, id string) error {
	f.called, f.cancelled = true, id
	return nil
}

func (f *fakeBackend) Build(_ context.Context, body io.Reader, req backend.BuildRequest, out backend.BuildOutput) (string, error) {
	f.called, f.req = true, req
	b, _ := io.ReadAll(body)
	f.context = string(b)
	if f.write != "" {
		_, _ = out.Write([]byte(f.write))
	}
	if f.err != nil {
		return "", f.err
	}
	return "sha256:abc", nil
}

func (f *fakeBackend) BuildCachePrune(_ context.Context, opts backend.BuildCachePruneOptions) (*buildtypes.CachePruneReport, error) {
	f.called, f.prune = true, opts
	return &buildtypes.CachePruneReport{SpaceReclaimed: 42}, nil
}

func (f *fakeBackend) BuildKitHandler(context.Context) (http.Handler, error) {
	if f.grpc == nil {
		return nil, errdefs.NotFoundf("BuildKit is disabled")
	}
	return f.grpc, nil
}

func (f *fakeBackend) BuildKitSession(_ context.Context, w http.ResponseWriter, _ *http.Request) error {
	f.called = true
	w.WriteHeader(http.StatusSwitchingProtocols)
	return nil
}

type stepFailed struct{}

func (stepFailed) Error() string { return "The command '/bin/sh -c false' returned a non-zero code: 1" }
func (stepFailed) ExitCode() int { return 1 }

// messages decodes a build's JSON message stream.
func messages(t *testing.T, rec *httptest.ResponseRecorder) []jsonstream.Message {
	t.Helper()
	var out []jsonstream.Message
	dec := json.NewDecoder(rec.Body)
	for dec.More() {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("stream %q: %v", rec.Body.String(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestBuildRoutes(t *testing.T) {
	f := &fakeBackend{}
	notCalled := func(t *testing.T, _ *httptest.ResponseRecorder) {
		if f.called {
			t.Error("the backend was called for a request the router refuses")
		}
	}
	playing := func(write string, err error) func() {
		return func() { *f = fakeBackend{write: write, err: err} }
	}
	h := servertest.Handler(New(f))
	servertest.Run(t, h, playing("", nil), []servertest.Case{
		{Name: "query parsed", Method: "POST", Path: "/build", Body: "ctx",
			Query:  `t=a:1&t=b:2&dockerfile=D&nocache=1&pull=true&forcerm=1&rm=0&target=t&buildargs={"X":"1","Y":null}&labels={"l":"v"}&cachefrom=["c"]&memory=1024&cpushares=2&networkmode=default&extrahosts=h1:1.2.3.4,h2:5.6.7.8&shmsize=64&ulimits=[{"Name":"nofile","Soft":1,"Hard":2}]`,
			Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				r := f.req
				if len(r.Tags) != 2 || r.Dockerfile != "D" || !r.NoCache || !r.Pull || !r.ForceRemove || !r.Remove || r.Target != "t" {
					t.Errorf("request = %+v", r)
				}
				if v := r.BuildArgs["X"]; v == nil || *v != "1" || r.BuildArgs["Y"] != nil || r.Labels["l"] != "v" || len(r.CacheFrom) != 1 {
					t.Errorf("JSON parameters = %v %v %v", r.BuildArgs, r.Labels, r.CacheFrom)
				}
				hc := r.HostConfig
				if hc.Memory != 1024 || hc.CPUShares != 2 || hc.NetworkMode != "" || hc.ShmSize != 64 || len(hc.ExtraHosts) != 2 || len(hc.Ulimits) != 1 {
					t.Errorf("host config = %+v", hc)
				}
				if f.context != "ctx" {
					t.Errorf("context = %q", f.context)
				}
			}},
		{Name: "rm defaults to true", Method: "POST", Path: "/build", Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if !f.req.Remove {
					t.Error("rm is true unless the client says otherwise")
				}
			}},
		{Name: "version=2 goes to BuildKit", Method: "POST", Path: "/build", Body: "ctx",
			Query:  `version=2&session=s1&remote=client-session&buildid=b1&t=a:1&outputs=[{"Type":"local","Attrs":{"dest":"/x"}}]`,
			Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				r := f.req
				if !f.buildKit || r.SessionID != "s1" || r.Remote != "client-session" || r.BuildID != "b1" || len(r.Tags) != 1 || f.context != "ctx" {
					t.Errorf("BuildKit request = %+v (BuildKit %v)", r, f.buildKit)
				}
				if len(r.Outputs) != 1 || r.Outputs[0].Type != "local" || r.Outputs[0].Attrs["dest"] != "/x" {
					t.Errorf("outputs = %+v", r.Outputs)
				}
			}},
		{Name: "version=1 stays classic", Method: "POST", Path: "/build", Query: "version=1&session=s1", Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if f.buildKit || f.req.SessionID != "" {
					t.Errorf("classic build went to BuildKit: %+v", f.req)
				}
			}},
		{Name: "outputs before 1.40 ignored", Version: "1.39", Method: "POST", Path: "/build", Query: `version=2&outputs=[{"Type":"local"}]`, Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if len(f.req.Outputs) != 0 {
					t.Errorf("outputs = %+v", f.req.Outputs)
				}
			}},
		{Name: "bad version", Method: "POST", Path: "/build", Query: "version=3", Status: http.StatusBadRequest, Contains: []string{`invalid version`}, Check: notCalled},
		{Name: "squash refused with BuildKit", Method: "POST", Path: "/build", Query: "version=2&squash=1", Status: http.StatusBadRequest, Contains: []string{"squash is only supported with experimental mode"}, Check: notCalled},
		{Name: "bad outputs", Method: "POST", Path: "/build", Query: "version=2&outputs={", Status: http.StatusBadRequest, Contains: []string{"invalid outputs"}, Check: notCalled},
		{Name: "bad platform", Method: "POST", Path: "/build", Query: "platform=linux/*", Status: http.StatusBadRequest, Check: notCalled},
		{Name: "bad buildargs", Method: "POST", Path: "/build", Query: "buildargs={", Status: http.StatusBadRequest, Contains: []string{"invalid buildargs"}, Check: notCalled},
		{Name: "bad memory", Method: "POST", Path: "/build", Query: "memory=lots", Status: http.StatusBadRequest, Contains: []string{"invalid memory"}, Check: notCalled},
		{Name: "isolation", Method: "POST", Path: "/build", Query: "isolation=hyperv", Status: http.StatusBadRequest, Contains: []string{"invalid isolation: hyperv"}, Check: notCalled},
		{Name: "prune", Method: "POST", Path: "/build/prune", Status: http.StatusOK, Contains: []string{`"SpaceReclaimed":42`}},
		{Name: "prune options", Method: "POST", Path: "/build/prune", Query: `all=1&keep-storage=100&max-used-space=300&filters={"until":{"24h":true}}`, Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				p := f.prune
				if !p.All || p.ReservedSpace != 100 || p.MaxUsedSpace != 300 || !p.Filters.ExactMatch("until", "24h") {
					t.Errorf("prune options = %+v", p)
				}
			}},
		{Name: "prune before 1.48 reads only keep-storage", Version: "1.47", Method: "POST", Path: "/build/prune", Query: "keep-storage=100&reserved-space=200&max-used-space=300", Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if p := f.prune; p.ReservedSpace != 100 || p.MaxUsedSpace != 0 {
					t.Errorf("prune options = %+v", p)
				}
			}},
		{Name: "prune reserved-space wins", Method: "POST", Path: "/build/prune", Query: "keep-storage=100&reserved-space=200", Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if p := f.prune; p.ReservedSpace != 200 {
					t.Errorf("prune options = %+v", p)
				}
			}},
		{Name: "prune bad keep-storage", Method: "POST", Path: "/build/prune", Query: "keep-storage=1GB", Status: http.StatusBadRequest, Contains: []string{"keep-storage is in bytes"}, Check: notCalled},
		{Name: "prune bad filters", Method: "POST", Path: "/build/prune", Query: "filters={", Status: http.StatusBadRequest, Check: notCalled},
		{Name: "grpc without upgrade", Method: "POST", Path: "/grpc", Status: http.StatusBadRequest, Contains: []string{"no upgrade proto"}},
		{Name: "session", Method: "POST", Path: "/session", Status: http.StatusSwitchingProtocols,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if !f.called {
					t.Error("/session did not reach the session manager")
				}
			}},
		{Name: "cancel", Method: "POST", Path: "/build/cancel", Query: "id=x", Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if f.cancelled != "x" {
					t.Errorf("cancelled %q, want x", f.cancelled)
				}
			}},
		{Name: "cancel without id", Method: "POST", Path: "/build/cancel", Status: http.StatusBadRequest, Contains: []string{"build ID not provided"}, Check: notCalled},
	})

	servertest.Run(t, h, playing("Step 1/1 : FROM scratch\n", nil), []servertest.Case{
		{Name: "streams the text", Method: "POST", Path: "/build", Status: http.StatusOK,
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				ms := messages(t, rec)
				if len(ms) != 1 || ms[0].Stream != "Step 1/1 : FROM scratch\n" || rec.Header().Get("Content-Type") != "application/json" {
					t.Errorf("stream = %+v", ms)
				}
			}},
		{Name: "quiet sends only the ID", Method: "POST", Path: "/build", Query: "q=1", Status: http.StatusOK,
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if ms := messages(t, rec); len(ms) != 1 || ms[0].Stream != "sha256:abc\n" {
					t.Errorf("quiet stream = %+v", ms)
				}
			}},
	})

	// A failure before any output is a plain HTTP error with the class's
	// status; after output, the stream carries it, with the step's code.
	servertest.Run(t, h, playing("", errdefs.NotFoundf("No such image: base")), []servertest.Case{
		{Name: "error before output", Method: "POST", Path: "/build", Status: http.StatusNotFound, Contains: []string{"No such image: base"}},
	})
	servertest.Run(t, h, playing("Step 1/2 : RUN false\n", stepFailed{}), []servertest.Case{
		{Name: "error after output", Method: "POST", Path: "/build", Status: http.StatusOK,
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				ms := messages(t, rec)
				last := ms[len(ms)-1]
				if len(ms) != 2 || last.Error == nil || last.Error.Code != 1 || !strings.Contains(last.Error.Message, "non-zero code: 1") {
					t.Errorf("stream = %+v", ms)
				}
			}},
	})
	servertest.Run(t, h, playing("Step 1/2 : RUN false\n", stepFailed{}), []servertest.Case{
		{Name: "quiet error shows the held text", Method: "POST", Path: "/build", Query: "q=1", Status: http.StatusOK,
			Contains: []string{"Step 1/2 : RUN false", "non-zero code: 1"}},
	})
}
