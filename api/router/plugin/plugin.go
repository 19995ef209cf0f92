package plugin

import (
	"context"
	"net/http"
	"strconv"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

type pluginRouter struct {
	backend Backend
}

// New returns the plugin router.
func New(b Backend) router.Router { return &pluginRouter{backend: b} }

func (p *pluginRouter) Routes() []router.Route {
	return []router.Route{
		router.Get("/plugins", p.list),
		router.Get("/plugins/privileges", p.unavailable),
		router.Get("/plugins/{name:.*}/json", p.inspect),
		router.Delete("/plugins/{name:.*}", p.byName),
		router.Post("/plugins/pull", p.unavailable),
		router.Post("/plugins/create", p.unavailable),
		router.Post("/plugins/{name:.*}/enable", p.enable),
		router.Post("/plugins/{name:.*}/disable", p.byName),
		router.Post("/plugins/{name:.*}/push", p.byName),
		router.Post("/plugins/{name:.*}/upgrade", p.upgrade),
		router.Post("/plugins/{name:.*}/set", p.set),
	}
}

func (p *pluginRouter) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	args, err := filters.FromJSON(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	l, err := p.backend.PluginList(ctx, args)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, l)
}

func (p *pluginRouter) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	pl, err := p.backend.PluginGet(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, pl)
}

// byName serves the operations on an installed plugin whose only possible
// answer, with nothing installed, is the plugin's absence.
func (p *pluginRouter) byName(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	_, err := p.backend.PluginGet(ctx, vars["name"])
	return err
}

func (p *pluginRouter) enable(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	// dockerd parses the timeout before it looks the plugin up.
	if _, err := strconv.Atoi(r.Form.Get("timeout")); err != nil {
		return errdefs.InvalidParameter(err)
	}
	return p.byName(ctx, w, r, vars)
}

func (p *pluginRouter) set(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var args []string
	if err := httputils.ReadJSON(r, &args); err != nil {
		return err
	}
	_, err := p.backend.PluginGet(ctx, vars["name"])
	return err
}

func (p *pluginRouter) upgrade(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if httputils.VersionLessThan(ctx, "1.26") {
		return errdefs.InvalidParameterf("%s %s requires minimum API version 1.26", r.Method, "/plugins/{name:.*}/upgrade")
	}
	if _, err := p.backend.PluginGet(ctx, vars["name"]); err != nil {
		return err
	}
	return p.backend.PluginUnavailable(ctx)
}

func (p *pluginRouter) unavailable(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	return p.backend.PluginUnavailable(ctx)
}
