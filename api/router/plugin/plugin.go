package plugin

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/plugin"
	"github.com/moby/moby/api/types/registry"

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
		router.Get("/plugins/privileges", p.privileges),
		router.Get("/plugins/{name:.*}/json", p.inspect),
		router.Delete("/plugins/{name:.*}", p.remove),
		router.Post("/plugins/pull", p.pull),
		router.Post("/plugins/create", p.create),
		router.Post("/plugins/{name:.*}/enable", p.enable),
		router.Post("/plugins/{name:.*}/disable", p.disable),
		router.Post("/plugins/{name:.*}/push", p.push),
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

func (p *pluginRouter) privileges(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	priv, err := p.backend.PluginPrivileges(ctx, r.Form.Get("remote"), r.Header.Get(registry.AuthHeader))
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, priv)
}

// remoteAndName parses a pull's remote reference and the local name it
// installs under, as dockerd does: without a name, the remote's own
// (a digest reference keeps its tag, or latest); a name without a tag gets
// latest; a name with a digest is refused.
func remoteAndName(remote, name string) (string, string, error) {
	ref, err := reference.ParseNormalizedNamed(remote)
	if err != nil {
		return "", "", errdefs.InvalidParameter(err)
	}
	if name == "" {
		trimmed := ref
		if c, ok := ref.(reference.Canonical); ok {
			trimmed = reference.TrimNamed(c)
			if t, ok := ref.(reference.Tagged); ok {
				if trimmed, err = reference.WithTag(trimmed, t.Tag()); err != nil {
					return "", "", errdefs.InvalidParameter(err)
				}
			}
		}
		return remote, reference.FamiliarString(reference.TagNameOnly(trimmed)), nil
	}
	local, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", "", errdefs.InvalidParameter(err)
	}
	if _, ok := local.(reference.Canonical); ok {
		return "", "", errdefs.InvalidParameter(errors.New("cannot use digest in plugin tag"))
	}
	return remote, reference.FamiliarString(reference.TagNameOnly(local)), nil
}

func (p *pluginRouter) pull(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	var priv plugin.Privileges
	if err := httputils.ReadJSON(r, &priv); err != nil {
		return err
	}
	remote, name, err := remoteAndName(r.Form.Get("remote"), r.Form.Get("name"))
	if err != nil {
		return err
	}
	// The CLI enables the plugin by this name once the pull is done.
	w.Header().Set("Docker-Plugin-Name", name)
	pw := httputils.NewProgressWriter(w)
	err = p.backend.PluginPull(ctx, remote, name, priv, r.Header.Get(registry.AuthHeader), statusTo(pw))
	return pw.Finish(err)
}

func (p *pluginRouter) upgrade(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if httputils.VersionLessThan(ctx, "1.26") {
		return errdefs.InvalidParameterf("%s %s requires minimum API version 1.26", r.Method, "/plugins/{name:.*}/upgrade")
	}
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	var priv plugin.Privileges
	if err := httputils.ReadJSON(r, &priv); err != nil {
		return err
	}
	if _, err := reference.ParseNormalizedNamed(r.Form.Get("remote")); err != nil {
		return errdefs.InvalidParameter(err)
	}
	pw := httputils.NewProgressWriter(w)
	err := p.backend.PluginUpgrade(ctx, vars["name"], r.Form.Get("remote"), priv, r.Header.Get(registry.AuthHeader), statusTo(pw))
	return pw.Finish(err)
}

func (p *pluginRouter) push(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	pw := httputils.NewProgressWriter(w)
	err := p.backend.PluginPush(ctx, vars["name"], r.Header.Get(registry.AuthHeader), statusTo(pw))
	return pw.Finish(err)
}

func statusTo(pw *httputils.ProgressWriter) func(string) {
	return func(s string) { _ = pw.Write(jsonstream.Message{Status: s}) }
}

func (p *pluginRouter) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	if err := p.backend.PluginCreate(ctx, r.Form.Get("name"), r.Body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p *pluginRouter) enable(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	// dockerd parses the timeout before it looks the plugin up.
	timeout, err := strconv.Atoi(r.Form.Get("timeout"))
	if err != nil {
		return errdefs.InvalidParameter(err)
	}
	if err := p.backend.PluginEnable(ctx, vars["name"], timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (p *pluginRouter) disable(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	if err := p.backend.PluginDisable(ctx, vars["name"], httputils.BoolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (p *pluginRouter) remove(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	if err := p.backend.PluginRemove(ctx, vars["name"], httputils.BoolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (p *pluginRouter) set(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var args []string
	if err := httputils.ReadJSON(r, &args); err != nil {
		return err
	}
	if err := p.backend.PluginSet(ctx, vars["name"], args); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
