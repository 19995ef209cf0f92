package container

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/daemon/backend"
)

// CommitBackend serves POST /commit (docker commit).
type CommitBackend interface {
	ContainerCommit(ctx context.Context, cfg backend.CommitConfig) (string, error)
}

func (r *containerRouter) commit(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	b := r.backend
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	var cfg *container.Config
	if err := httputils.ReadJSON(req, &cfg); err != nil {
		return err
	}
	id, err := b.ContainerCommit(ctx, backend.CommitConfig{
		Container: req.Form.Get("container"),
		Repo:      req.Form.Get("repo"),
		Tag:       req.Form.Get("tag"),
		Author:    req.Form.Get("author"),
		Comment:   req.Form.Get("comment"),
		Pause:     httputils.BoolValueOrDefault(req, "pause", true),
		Changes:   req.Form["changes"],
		Config:    cfg,
	})
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusCreated, container.CommitResponse{ID: id})
}
