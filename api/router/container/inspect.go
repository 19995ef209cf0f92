package container

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/api/server/httputils"
)

func (r *containerRouter) top(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	resp, err := r.backend.ContainerTop(ctx, vars["name"], req.Form.Get("ps_args"))
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, resp)
}

// stats streams by default (stream=true), one JSON document a second.
func (r *containerRouter) stats(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	stream := httputils.BoolValueOrDefault(req, "stream", true)
	oneShot := httputils.BoolValue(req, "one-shot")
	if _, err := r.backend.ContainerInspect(ctx, vars["name"], false); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	httputils.Flush(w)
	return r.backend.ContainerStats(ctx, vars["name"], stream, oneShot, w)
}

func (r *containerRouter) changes(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	changes, err := r.backend.ContainerChanges(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, changes)
}

func (r *containerRouter) update(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	var u container.UpdateConfig
	if err := httputils.ReadJSON(req, &u); err != nil {
		return err
	}
	if httputils.VersionLessThan(ctx, "1.40") {
		u.PidsLimit = nil
	}
	if httputils.VersionLessThan(ctx, "1.55") {
		// Present in the schema before 1.55, but ignored.
		u.BlkioWeightDevice, u.BlkioDeviceReadBps, u.BlkioDeviceWriteBps = nil, nil, nil
		u.BlkioDeviceReadIOps, u.BlkioDeviceWriteIOps = nil, nil
	}
	// 0, -1 and, historically, any negative value unset the limit.
	if u.PidsLimit != nil && *u.PidsLimit <= 0 {
		var unlimited int64
		u.PidsLimit = &unlimited
	}
	resp, err := r.backend.ContainerUpdate(ctx, vars["name"], u)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, resp)
}
