package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platform"
)

// Backend is what the build routes need from the daemon.
type Backend interface {
	// Build reads the context from body, builds and returns the image ID.
	Build(ctx context.Context, body io.Reader, req backend.BuildRequest, out backend.BuildOutput) (string, error)
	// BuildCachePrune answers POST /build/prune.
	BuildCachePrune(ctx context.Context, opts backend.BuildCachePruneOptions) (*build.CachePruneReport, error)
	BuildKit
}

// ExitCoder is a build error that carries the failed step's exit code.
type ExitCoder interface {
	error
	ExitCode() int
}

type buildRouter struct{ backend Backend }

// New returns the build router.
func New(b Backend) router.Router { return &buildRouter{backend: b} }

func (br *buildRouter) Routes() []router.Route {
	return []router.Route{
		router.Post("/build", br.build),
		router.Post("/build/prune", br.prune),
		router.Post("/build/cancel", br.cancel),
		router.Post("/grpc", br.grpc),
		router.Post("/session", br.session),
	}
}

// cancel serves POST /build/cancel?id=: the BuildKit build the client
// named so stops. Classic builds end when their client hangs up.
func (br *buildRouter) cancel(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	id := r.Form.Get("id")
	if id == "" {
		return errdefs.InvalidParameterf("build ID not provided")
	}
	if err := br.backend.BuildKitCancel(ctx, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (br *buildRouter) prune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	opts, err := pruneOptions(ctx, r)
	if err != nil {
		return err
	}
	rep, err := br.backend.BuildCachePrune(ctx, opts)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, rep)
}

func jsonParam(r *http.Request, key string, out any) error {
	v := r.Form.Get(key)
	if v == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(v), out); err != nil {
		return errdefs.InvalidParameterf("invalid %s: %v", key, err)
	}
	return nil
}

func parseRequest(r *http.Request) (backend.BuildRequest, error) {
	q := r.Form
	req := backend.BuildRequest{
		Tags:        q["t"],
		Remote:      q.Get("remote"),
		Dockerfile:  q.Get("dockerfile"),
		Quiet:       httputils.BoolValue(r, "q"),
		NoCache:     httputils.BoolValue(r, "nocache"),
		Pull:        httputils.BoolValue(r, "pull"),
		Remove:      httputils.BoolValueOrDefault(r, "rm", true),
		ForceRemove: httputils.BoolValue(r, "forcerm"),
		Squash:      httputils.BoolValue(r, "squash"),
		Target:      q.Get("target"),
		Platform:    q.Get("platform"),
	}
	if req.ForceRemove {
		req.Remove = true
	}
	// dockerd parses the platform before it reads the context.
	if err := platform.Check(req.Platform); err != nil {
		return req, err
	}
	if err := jsonParam(r, "cachefrom", &req.CacheFrom); err != nil {
		return req, err
	}
	if err := jsonParam(r, "buildargs", &req.BuildArgs); err != nil {
		return req, err
	}
	if err := jsonParam(r, "labels", &req.Labels); err != nil {
		return req, err
	}
	hc := &req.HostConfig
	var err error
	ints := map[string]*int64{
		"memory": &hc.Memory, "memswap": &hc.MemorySwap, "cpushares": &hc.CPUShares,
		"cpuperiod": &hc.CPUPeriod, "cpuquota": &hc.CPUQuota, "shmsize": &hc.ShmSize,
	}
	for k, p := range ints {
		if *p, err = httputils.Int64ValueOrDefault(r, k, 0); err != nil {
			return req, errdefs.InvalidParameterf("invalid %s: %v", k, err)
		}
	}
	hc.CpusetCpus = q.Get("cpusetcpus")
	hc.CpusetMems = q.Get("cpusetmems")
	hc.NetworkMode = container.NetworkMode(q.Get("networkmode"))
	if hc.NetworkMode == "default" {
		hc.NetworkMode = ""
	}
	for _, h := range q["extrahosts"] {
		for _, f := range strings.FieldsFunc(h, func(r rune) bool { return r == ',' || r == ' ' }) {
			hc.ExtraHosts = append(hc.ExtraHosts, f)
		}
	}
	if err := jsonParam(r, "ulimits", &hc.Ulimits); err != nil {
		return req, err
	}
	if c := q.Get("isolation"); c != "" && c != "default" {
		return req, errdefs.InvalidParameterf("invalid isolation: %s", c)
	}
	return req, nil
}

// stream writes the JSON message stream. Its status line goes out with
// the first message, so that an error before any output (a Dockerfile
// that does not parse) is a plain HTTP error, as in dockerd. In quiet
// mode the text is kept back and only the image ID is sent.
type stream struct {
	w       http.ResponseWriter
	enc     *json.Encoder
	mu      sync.Mutex
	started bool
	quiet   bool
	held    bytes.Buffer
}

func (s *stream) start() {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
	}
}

func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.quiet {
		s.held.Write(p)
		s.mu.Unlock()
		return len(p), nil
	}
	s.mu.Unlock()
	if err := s.Message(jsonstream.Message{Stream: string(p)}); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *stream) Message(m jsonstream.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quiet && m.Aux == nil && m.Error == nil && m.Stream == "" {
		return nil // pull progress is not shown with -q
	}
	s.start()
	if err := s.enc.Encode(m); err != nil {
		return err
	}
	httputils.Flush(s.w)
	return nil
}

func (br *buildRouter) build(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	req, err := parseRequest(r)
	if err != nil {
		return err
	}
	buildKit, err := builderVersion(r)
	if err != nil {
		return err
	}
	if buildKit {
		if err := parseBuildKitRequest(ctx, r, &req); err != nil {
			return err
		}
	}
	// BuildKit reads an uploaded context while the progress already
	// streams: without full duplex the server closes the body at the
	// first write.
	_ = http.NewResponseController(w).EnableFullDuplex()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	out := &stream{w: w, enc: enc, quiet: req.Quiet}
	var id string
	if buildKit {
		id, err = br.backend.BuildKitBuild(ctx, r.Body, req, out)
	} else {
		id, err = br.backend.Build(ctx, r.Body, req, out)
	}
	if err != nil {
		out.mu.Lock()
		started := out.started
		held := out.held.String()
		out.quiet = false
		out.mu.Unlock()
		if !started && held == "" {
			return err
		}
		if held != "" {
			out.Message(jsonstream.Message{Stream: held})
		}
		je := &jsonstream.Error{Message: err.Error()}
		var ec ExitCoder
		if errors.As(err, &ec) {
			je.Code = ec.ExitCode()
		}
		out.Message(jsonstream.Message{Error: je})
		return nil
	}
	if req.Quiet {
		out.mu.Lock()
		out.quiet = false
		out.mu.Unlock()
		return out.Message(jsonstream.Message{Stream: id + "\n"})
	}
	return nil
}
