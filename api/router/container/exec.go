package container

import (
	"context"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/pkg/errdefs"
)

func (r *containerRouter) execCreate(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	var cfg container.ExecCreateRequest
	if err := httputils.ReadJSON(req, &cfg); err != nil {
		return err
	}
	id, err := r.backend.ContainerExecCreate(ctx, vars["name"], cfg)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusCreated, &common.IDResponse{ID: id})
}

func (r *containerRouter) execStart(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	var body container.ExecStartRequest
	if err := httputils.ReadJSON(req, &body); err != nil {
		return err
	}
	detached := body.Detach
	err := r.backend.ContainerExecStart(ctx, vars["id"], body, func(multiplexed bool) (io.ReadWriteCloser, error) {
		return hijack(ctx, w, req, multiplexed)
	})
	if err != nil {
		return err
	}
	if detached {
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

func (r *containerRouter) execInspect(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	resp, err := r.backend.ContainerExecInspect(vars["id"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, resp)
}

func (r *containerRouter) execResize(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	h, err := httputils.Uint32Value(req, "h")
	if err != nil {
		return errdefs.InvalidParameterf("invalid resize height %q: %v", req.Form.Get("h"), err)
	}
	wd, err := httputils.Uint32Value(req, "w")
	if err != nil {
		return errdefs.InvalidParameterf("invalid resize width %q: %v", req.Form.Get("w"), err)
	}
	return r.backend.ContainerExecResize(ctx, vars["id"], int(h), int(wd))
}
