package volume

import (
	"context"
	"errors"
	"net/http"

	"github.com/moby/moby/api/types/volume"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

// errNotSwarmManager is dockerd's answer to cluster-volume requests on a
// node outside a swarm; berth never is in one.
var errNotSwarmManager = errdefs.Unavailable(errors.New(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`))

type volumeRouter struct {
	backend Backend
}

// New returns the volume router.
func New(b Backend) router.Router { return &volumeRouter{backend: b} }

func (v *volumeRouter) Routes() []router.Route {
	return []router.Route{
		router.Get("/volumes", v.list),
		router.Get("/volumes/{name:.*}", v.inspect),
		router.Post("/volumes/create", v.create),
		router.Post("/volumes/prune", v.prune),
		router.Put("/volumes/{name:.*}", v.update),
		router.Delete("/volumes/{name:.*}", v.remove),
	}
}

func (v *volumeRouter) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	args, err := filters.FromJSON(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	vols, warnings, err := v.backend.VolumeList(ctx, args)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, &volume.ListResponse{Volumes: vols, Warnings: warnings})
}

func (v *volumeRouter) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	vol, err := v.backend.VolumeInspect(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, vol)
}

func (v *volumeRouter) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var req volume.CreateRequest
	if err := httputils.ReadJSON(r, &req); err != nil {
		return err
	}
	// Cluster volumes arrived in API 1.42; older clients never send the
	// field with meaning.
	if req.ClusterVolumeSpec != nil && !httputils.VersionLessThan(ctx, "1.42") {
		return errNotSwarmManager
	}
	vol, err := v.backend.VolumeCreate(ctx, req)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusCreated, vol)
}

func (v *volumeRouter) update(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	// PUT /volumes/{name} only updates cluster volumes (API 1.42+).
	if httputils.VersionLessThan(ctx, "1.42") {
		return errdefs.InvalidParameterf("volume update only supported from api version 1.42")
	}
	return errNotSwarmManager
}

func (v *volumeRouter) remove(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	if err := v.backend.VolumeRemove(ctx, vars["name"], httputils.BoolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (v *volumeRouter) prune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	args, err := filters.FromJSON(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	// Before API 1.42 prune removed every unused volume, named or not.
	if httputils.VersionLessThan(ctx, "1.42") {
		args.Add("all", "true")
	}
	rep, err := v.backend.VolumesPrune(ctx, args)
	if err != nil {
		return err
	}
	if rep.VolumesDeleted == nil {
		rep.VolumesDeleted = []string{}
	}
	return httputils.WriteJSON(w, http.StatusOK, rep)
}
