package image

import (
	"context"
	"net/http"
	"strconv"

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

// pull is POST /images/create with fromImage.
func (ir *imageRouter) pull(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	b, err := ir.distribution()
	if err != nil {
		return err
	}
	pw := httputils.NewProgressWriter(w)
	err = b.PullImage(ctx, r.Form.Get("fromImage"), r.Form.Get("tag"), r.Form.Get("platform"), r.Header.Get(registry.AuthHeader), pw.Write)
	return pw.Finish(err)
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
	pw := httputils.NewProgressWriter(w)
	err = b.PushImage(ctx, vars["name"], r.Form.Get("tag"), r.Header.Get(registry.AuthHeader), pw.Write)
	return pw.Finish(err)
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
