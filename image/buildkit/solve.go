package buildkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/util/entitlements"
	"google.golang.org/grpc/metadata"

	"github.com/berthd/berth/pkg/errdefs"
)

// SolveOptions are one build through the classic endpoint, POST
// /build?version=2, in BuildKit's terms: the dockerfile.v0 frontend with
// attributes from the query, the moby exporter unless Outputs says
// otherwise.
type SolveOptions struct {
	// BuildID names the build for Cancel (the CLI's buildid parameter).
	BuildID string
	// SessionID is the client's /session, which serves the "context" and
	// "dockerfile" directories, credentials and local outputs.
	SessionID string
	// Remote is the remote context: "client-session" (the session's
	// directories), "upload-request" (a context uploaded by a second
	// request with buildid=upload-request:<BuildID>), a Git or HTTP URL
	// the frontend fetches, or "": Context is the context.
	Remote string
	// Context is the request's body: a context tar when Remote is "".
	Context    io.Reader
	Dockerfile string
	Target     string
	Platform   string
	Tags       []string
	BuildArgs  map[string]*string
	Labels     map[string]string
	CacheFrom  []string
	NoCache    bool
	Pull       bool
	// NetworkMode of RUN steps: "" or "default" (the default bridge),
	// "host" or "none".
	NetworkMode string
	// ExtraHosts are "name=ip" entries, host-gateway already resolved.
	ExtraHosts []string
	ShmSize    int64
	// Ulimits are "name=soft:hard" entries.
	Ulimits []string
	// Outputs: none means the moby exporter; one "cacheonly" means none.
	Outputs []Output
}

// Output is one exporter of the result.
type Output struct {
	Type  string
	Attrs map[string]string
}

// mobyExporter is the exporter into the engine's image store.
const mobyExporter = "moby"

// Solve runs one build from the classic endpoint's parameters. Its
// progress goes to status as BuildKit's status messages; it returns the
// image ID when the result went into the image store.
func (b *Builder) Solve(ctx context.Context, o SolveOptions, status func(*controlapi.StatusResponse) error) (string, error) {
	if o.BuildID != "" {
		var done func()
		ctx, done = b.builds.add(ctx, o.BuildID)
		defer done()
	}
	if o.Remote == "upload-request" {
		if o.BuildID == "" {
			return "", errdefs.InvalidParameterf("remote=upload-request needs a buildid")
		}
		up, err := b.builds.waitUpload(ctx, o.BuildID)
		if err != nil {
			return "", err
		}
		defer close(up.read)
		o.Remote, o.Context = "", up.body
	}
	if o.Remote == "" && o.Context != nil {
		url, remove := b.uploads.add(io.NopCloser(o.Context))
		defer remove()
		o.Remote = url
	}
	req, err := solveRequest(o)
	if err != nil {
		return "", err
	}
	rt, err := b.start(ctx)
	if err != nil {
		return "", err
	}
	// A recorded span, as the gRPC path's requests have, gives the
	// build's history record its trace.
	ctx, span := tracer().Tracer("berth").Start(ctx, "POST /build")
	defer span.End()

	statusCtx, stopStatus := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStatus()
	ch := make(chan *controlapi.StatusResponse)
	statusDone := make(chan error, 1)
	go func() {
		defer close(ch)
		statusDone <- rt.controller.Status(&controlapi.StatusRequest{Ref: req.Ref}, &statusStream{ctx: statusCtx, ch: ch})
	}()
	// The writer keeps draining after a failed write, so that BuildKit's
	// status stream is never stuck on a client that went away.
	var writeErr error
	written := make(chan struct{})
	go func() {
		defer close(written)
		for sr := range ch {
			if writeErr == nil {
				writeErr = status(sr)
			}
		}
	}()

	resp, solveErr := rt.controller.Solve(ctx, req)
	// The job's last status messages come after Solve returns; a job that
	// never started (a bad session) has none and its status would only
	// end at BuildKit's own wait for the job.
	select {
	case <-statusDone:
	case <-time.After(statusGrace):
		stopStatus()
	}
	<-written
	if solveErr != nil {
		return "", solveErr
	}
	if writeErr != nil {
		return "", writeErr
	}
	if e := req.Exporters; len(e) == 0 || (e[0].Type != mobyExporter && e[0].Type != "image") {
		return "", nil
	}
	id, ok := resp.ExporterResponse[exptypes.ExporterImageDigestKey]
	if !ok {
		return "", errors.New("buildkit: the exporter returned no image ID")
	}
	return id, nil
}

// statusGrace is how long the status of a finished Solve may still run.
const statusGrace = 2 * time.Second

// Cancel ends the build the client named id; an unknown ID is no error,
// as with dockerd.
func (b *Builder) Cancel(id string) { b.builds.cancel(id) }

// solveRequest maps the classic parameters onto the dockerfile.v0
// frontend's attributes, as dockerd's builder-next does.
func solveRequest(o SolveOptions) (*controlapi.SolveRequest, error) {
	attrs := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			attrs[k] = v
		}
	}
	switch o.Remote {
	case "client-session":
		if o.SessionID == "" {
			return nil, errdefs.InvalidParameterf("remote=client-session needs a session")
		}
	case "":
		return nil, errdefs.InvalidParameterf("no build context: a BuildKit build through POST /build reads it from a session (remote=client-session), a remote URL or the request's body")
	default:
		attrs["context"] = o.Remote
	}
	set("target", o.Target)
	if o.Dockerfile != "." {
		set("filename", o.Dockerfile)
	}
	attrs["cache-from"] = strings.Join(o.CacheFrom, ",")
	for k, v := range o.BuildArgs {
		if v != nil { // an unset --build-arg: the frontend knows no such thing
			attrs["build-arg:"+k] = *v
		}
	}
	for k, v := range o.Labels {
		attrs["label:"+k] = v
	}
	if o.NoCache {
		attrs["no-cache"] = ""
	}
	attrs["image-resolve-mode"] = "default"
	if o.Pull {
		attrs["image-resolve-mode"] = "pull"
	}
	set("platform", o.Platform)
	var ents []string
	switch o.NetworkMode {
	case "", "default":
	case "host":
		attrs["force-network-mode"] = "host"
		ents = append(ents, string(entitlements.EntitlementNetworkHost))
	case "none":
		attrs["force-network-mode"] = "none"
	default:
		return nil, errdefs.InvalidParameterf("network mode %q not supported by buildkit", o.NetworkMode)
	}
	attrs["add-hosts"] = strings.Join(o.ExtraHosts, ",")
	if o.ShmSize > 0 {
		attrs["shm-size"] = strconv.FormatInt(o.ShmSize, 10)
	}
	set("ulimit", strings.Join(o.Ulimits, ","))

	exp, err := exporterFor(o)
	if err != nil {
		return nil, err
	}
	req := &controlapi.SolveRequest{
		Ref:           identity.NewID(),
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		Session:       o.SessionID,
		Cache:         &controlapi.CacheOptions{},
		Entitlements:  ents,
	}
	if exp != nil {
		req.Exporters = []*controlapi.Exporter{exp}
	}
	if v := o.BuildArgs["BUILDKIT_INLINE_CACHE"]; v != nil {
		if on, err := strconv.ParseBool(*v); err == nil && on {
			req.Cache.Exports = append(req.Cache.Exports, &controlapi.CacheOptionsEntry{Type: "inline"})
		}
	}
	return req, nil
}

// exporterFor is the build's one exporter: moby by default, none for
// "cacheonly"; the image exporters get the tags as their names.
func exporterFor(o SolveOptions) (*controlapi.Exporter, error) {
	exp := &controlapi.Exporter{Type: mobyExporter, Attrs: map[string]string{}}
	switch len(o.Outputs) {
	case 0:
	case 1:
		if o.Outputs[0].Type == "cacheonly" {
			return nil, nil
		}
		exp.Type = o.Outputs[0].Type
		for k, v := range o.Outputs[0].Attrs {
			exp.Attrs[k] = v
		}
	default:
		return nil, errdefs.InvalidParameterf("multiple outputs not supported")
	}
	if (exp.Type == mobyExporter || exp.Type == "image") && len(o.Tags) > 0 {
		exp.Attrs["name"] = strings.Join(o.Tags, ",")
	}
	return exp, nil
}

// buildJobs are the builds that have a client-given ID: running ones
// (for Cancel) and those whose context is being uploaded.
type buildJobs struct {
	mu   sync.Mutex
	jobs map[string]*buildJob
}

type buildJob struct {
	cancel context.CancelFunc
	// upload hands the uploaded context from its request to the build.
	upload chan upload
}

// job returns the job id, made by whichever of its requests comes first.
func (j *buildJobs) job(id string) *buildJob {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.jobs == nil {
		j.jobs = map[string]*buildJob{}
	}
	if j.jobs[id] == nil {
		j.jobs[id] = &buildJob{upload: make(chan upload)}
	}
	return j.jobs[id]
}

// drop forgets job, unless its ID was taken by another since.
func (j *buildJobs) drop(id string, job *buildJob) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.jobs[id] == job {
		delete(j.jobs, id)
	}
}

// add registers a running build; done ends and forgets it.
func (j *buildJobs) add(ctx context.Context, id string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	job := j.job(id)
	j.mu.Lock()
	job.cancel = cancel
	j.mu.Unlock()
	return ctx, func() {
		cancel()
		j.drop(id, job)
	}
}

func (j *buildJobs) cancel(id string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if job, ok := j.jobs[id]; ok && job.cancel != nil {
		job.cancel()
	}
}

// statusStream is the server stream Controller.Status writes to, here a
// channel: the build's status without a gRPC client.
type statusStream struct {
	ctx context.Context
	ch  chan<- *controlapi.StatusResponse
}

func (s *statusStream) Send(m *controlapi.StatusResponse) error { return s.SendMsg(m) }

func (s *statusStream) SendMsg(m any) error {
	sr, ok := m.(*controlapi.StatusResponse)
	if !ok {
		return fmt.Errorf("buildkit: unexpected status message %T", m)
	}
	select {
	case s.ch <- sr:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

func (s *statusStream) Context() context.Context { return s.ctx }
func (s *statusStream) RecvMsg(any) error {
	return errors.New("buildkit: status stream takes no messages")
}
func (s *statusStream) SetHeader(metadata.MD) error  { return nil }
func (s *statusStream) SendHeader(metadata.MD) error { return nil }
func (s *statusStream) SetTrailer(metadata.MD)       {}
