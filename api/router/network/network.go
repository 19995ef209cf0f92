package network

import (
	"context"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

type networkRouter struct {
	backend Backend
}

// New returns the network router.
func New(b Backend) router.Router { return &networkRouter{backend: b} }

func (n *networkRouter) Routes() []router.Route {
	return []router.Route{
		router.Get("/networks", n.list),
		router.Get("/networks/", n.list),
		router.Get("/networks/{id:.+}", n.inspect),
		router.Post("/networks/create", n.create),
		router.Post("/networks/prune", n.prune),
		router.Post("/networks/{id:.*}/connect", n.connect),
		router.Post("/networks/{id:.*}/disconnect", n.disconnect),
		router.Delete("/networks/{id:.*}", n.remove),
	}
}

func (n *networkRouter) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	f, err := filters.FromJSON(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	nets, err := n.backend.NetworkList(ctx, f)
	if err != nil {
		return err
	}
	if httputils.VersionLessThan(ctx, "1.52") {
		// Before 1.52 the list carried inspect's shape, with an empty
		// Containers map (dockerd's NetworkResource).
		for i := range nets {
			if nets[i].Containers == nil {
				nets[i].Containers = map[string]network.EndpointResource{}
			}
		}
		if nets == nil {
			nets = []network.Inspect{}
		}
		return httputils.WriteJSON(w, http.StatusOK, nets)
	}
	out := make([]network.Summary, 0, len(nets))
	for _, nw := range nets {
		out = append(out, network.Summary{Network: nw.Network})
	}
	return httputils.WriteJSON(w, http.StatusOK, out)
}

func (n *networkRouter) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	opts := backend.NetworkInspectOptions{Scope: r.Form.Get("scope"), WithStatus: !httputils.VersionLessThan(ctx, "1.52")}
	if v := r.Form.Get("verbose"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errdefs.InvalidParameterf("invalid value for verbose: %s: %v", v, err)
		}
		opts.Verbose = b
	}
	nw, err := n.backend.NetworkInspect(ctx, vars["id"], opts)
	if err != nil {
		return err
	}
	if nw.Containers == nil {
		nw.Containers = map[string]network.EndpointResource{}
	}
	return httputils.WriteJSON(w, http.StatusOK, nw)
}

// createBody decodes a create request with its IPAM addresses still as
// strings (see rawIPAMConfig): the outer IPAM field shadows the
// embedded request's during decoding.
type createBody struct {
	network.CreateRequest
	IPAM *rawIPAM `json:"IPAM,omitempty"`
}

type rawIPAM struct {
	Driver  string
	Options map[string]string
	Config  []rawIPAMConfig
}

func (n *networkRouter) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	var body createBody
	if err := httputils.ReadJSON(r, &body); err != nil {
		return err
	}
	req := body.CreateRequest
	if body.IPAM != nil {
		cfg, err := parseIPAMConfig(body.IPAM.Config)
		if err != nil {
			return errdefs.InvalidParameter(err)
		}
		req.IPAM = &network.IPAM{Driver: body.IPAM.Driver, Options: body.IPAM.Options, Config: cfg}
	}
	// EnableIPv4 came with API 1.48: an older client's is ignored, as
	// dockerd ignores it.
	if httputils.VersionLessThan(ctx, "1.48") {
		req.EnableIPv4 = nil
	}
	resp, err := n.backend.NetworkCreate(ctx, req)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusCreated, resp)
}

func (n *networkRouter) remove(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := n.backend.NetworkRemove(ctx, vars["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (n *networkRouter) connect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var req network.ConnectRequest
	if err := httputils.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := n.backend.NetworkConnect(ctx, vars["id"], req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (n *networkRouter) disconnect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var req network.DisconnectRequest
	if err := httputils.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := n.backend.NetworkDisconnect(ctx, vars["id"], req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (n *networkRouter) prune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	f, err := filters.FromJSON(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	rep, err := n.backend.NetworksPrune(ctx, f)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, rep)
}
