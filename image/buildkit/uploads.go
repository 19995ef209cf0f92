package buildkit

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/identity"
	httpsrc "github.com/moby/buildkit/source/http"
	"github.com/moby/buildkit/util/tracing"

	"github.com/berthd/berth/pkg/errdefs"
)

// uploadHostPrefix begins the made-up host under which an uploaded
// context tar is fetched by the frontend, as dockerd names it.
const uploadHostPrefix = "build-context-"

// uploads hands the context tars clients upload with POST
// /build?version=2 to BuildKit: the dockerfile frontend fetches the
// context from http://build-context-<id> and this transport answers that
// with the request's body; any other URL goes out as usual.
type uploads struct {
	mu     sync.Mutex
	bodies map[string]io.ReadCloser
}

// add registers body and returns its URL and what unregisters it.
func (u *uploads) add(body io.ReadCloser) (string, func()) {
	id := identity.NewID()
	u.mu.Lock()
	if u.bodies == nil {
		u.bodies = map[string]io.ReadCloser{}
	}
	u.bodies[id] = body
	u.mu.Unlock()
	return "http://" + uploadHostPrefix + id, func() {
		u.mu.Lock()
		delete(u.bodies, id)
		u.mu.Unlock()
	}
}

func (u *uploads) RoundTrip(req *http.Request) (*http.Response, error) {
	id, ok := strings.CutPrefix(req.URL.Host, uploadHostPrefix)
	if !ok {
		return tracing.DefaultTransport.RoundTrip(req)
	}
	if req.Method != http.MethodGet {
		return nil, errors.New("buildkit: an uploaded context is only read")
	}
	// A body is read once: a second fetch finds nothing.
	u.mu.Lock()
	body, ok := u.bodies[id]
	delete(u.bodies, id)
	u.mu.Unlock()
	if !ok {
		return nil, errors.New("buildkit: uploaded context not found")
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: body, ContentLength: -1, Request: req,
	}, nil
}

// httpSource is BuildKit's HTTP source that also serves uploaded contexts.
func (b *Builder) httpSource(p Parts) (*httpsrc.Source, error) {
	return httpsrc.NewSource(httpsrc.Opt{CacheAccessor: p.CacheManager, Transport: &b.uploads})
}

// uploadWait bounds how long the two requests of a stdin-tar build
// (docker CLI 20.10's `docker build - < ctx.tar`) wait for each other.
const uploadWait = 5 * time.Second

// Upload serves the body half of a stdin-tar build: POST
// /build?version=2&buildid=upload-request:<id> carries the context that
// the build with buildid=<id> and remote=upload-request reads. It returns
// when that build has finished with it.
func (b *Builder) Upload(ctx context.Context, id string, body io.Reader) error {
	j := b.builds.job(id)
	read := make(chan struct{})
	wait, cancel := context.WithTimeout(ctx, uploadWait)
	defer cancel()
	select {
	case j.upload <- upload{body: body, read: read}:
	case <-wait.Done():
		b.builds.drop(id, j)
		return errdefs.InvalidParameterf("no build %s waits for an uploaded context", id)
	}
	select {
	case <-read:
	case <-ctx.Done():
	}
	return nil
}

// upload is one uploaded context on its way to its build; read is closed
// when the build is done with it.
type upload struct {
	body io.Reader
	read chan struct{}
}

// waitUpload takes the context uploaded for the build id.
func (j *buildJobs) waitUpload(ctx context.Context, id string) (upload, error) {
	wait, cancel := context.WithTimeout(ctx, uploadWait)
	defer cancel()
	select {
	case u := <-j.job(id).upload:
		return u, nil
	case <-wait.Done():
		return upload{}, errdefs.InvalidParameterf("no context was uploaded for build %s", id)
	}
}
