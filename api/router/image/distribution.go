package image

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

// DistributionBackend is what the registry routes (pull, push, inspect a
// remote manifest) need from the daemon. The X-Registry-Auth header is
// passed through as sent: decoding it is the registry code's business.
type DistributionBackend interface {
	PullImage(ctx context.Context, image, tag, platform, authHeader string, out func(jsonstream.Message) error) error
	PushImage(ctx context.Context, name, tag, authHeader string, out func(jsonstream.Message) error) error
	DistributionInspect(ctx context.Context, name, authHeader string) (*registry.DistributionInspect, error)
	SearchRegistry(ctx context.Context, args filters.Args, term string, limit int, authHeader string) ([]registry.SearchResult, error)
}

// search answers GET /images/search.
func (ir *imageRouter) search(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	b, err := ir.distribution()
	if err != nil {
		return err
	}
	limit := 0
	if v := r.Form.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil {
			return errdefs.InvalidParameterf("invalid limit: %v", err)
		}
	}
	args, err := filters.FromJSON(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	res, err := b.SearchRegistry(ctx, args, r.Form.Get("term"), limit, r.Header.Get(registry.AuthHeader))
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, res)
}

func (ir *imageRouter) distribution() (DistributionBackend, error) {
	b, ok := ir.backend.(DistributionBackend)
	if !ok {
		return nil, errdefs.NotImplemented(errNoPull)
	}
	return b, nil
}

// progressWriter writes a JSON message stream whose status line is sent
// with the first message: an error before any progress (an unknown
// manifest, refused credentials) is then a plain HTTP error, which the
// CLI prints as "Error response from daemon: …", as dockerd does.
type progressWriter struct {
	w       http.ResponseWriter
	enc     *json.Encoder
	mu      sync.Mutex
	started bool
}

func newProgressWriter(w http.ResponseWriter) *progressWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &progressWriter{w: w, enc: enc}
}

func (p *progressWriter) write(m jsonstream.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start()
	if err := p.enc.Encode(m); err != nil {
		return err
	}
	httputils.Flush(p.w)
	return nil
}

func (p *progressWriter) start() {
	if !p.started {
		p.started = true
		p.w.Header().Set("Content-Type", "application/json")
		p.w.WriteHeader(http.StatusOK)
	}
}

// finish ends the stream: err goes in it when the stream has begun, and
// is returned for the router to send as an HTTP error when it has not.
func (p *progressWriter) finish(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.start()
		return nil
	}
	if !p.started {
		return err
	}
	// Both fields: current CLIs read errorDetail, old ones read error.
	_ = p.enc.Encode(struct {
		ErrorDetail *jsonstream.Error `json:"errorDetail"`
		Error       string            `json:"error"`
	}{&jsonstream.Error{Message: err.Error()}, err.Error()})
	httputils.Flush(p.w)
	return nil
}

// pull is POST /images/create with fromImage.
func (ir *imageRouter) pull(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	b, err := ir.distribution()
	if err != nil {
		return err
	}
	pw := newProgressWriter(w)
	err = b.PullImage(ctx, r.Form.Get("fromImage"), r.Form.Get("tag"), r.Form.Get("platform"), r.Header.Get(registry.AuthHeader), pw.write)
	return pw.finish(err)
}

// push is POST /images/{name}/push.
func (ir *imageRouter) push(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	b, err := ir.distribution()
	if err != nil {
		return err
	}
	pw := newProgressWriter(w)
	err = b.PushImage(ctx, vars["name"], r.Form.Get("tag"), r.Header.Get(registry.AuthHeader), pw.write)
	return pw.finish(err)
}

// distributionInspect is GET /distribution/{name}/json.
func (ir *imageRouter) distributionInspect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	b, err := ir.distribution()
	if err != nil {
		return err
	}
	res, err := b.DistributionInspect(ctx, vars["name"], r.Header.Get(registry.AuthHeader))
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, res)
}
