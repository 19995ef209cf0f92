package swarm

import (
	"context"
	"errors"
	"net/http"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/pkg/errdefs"
)

// dockerd's texts for a node that is in no swarm.
var (
	errNoManager = errdefs.Unavailable(errors.New(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`))
	errNoSwarm   = errdefs.Unavailable(errors.New("This node is not part of a swarm"))
	errNoSupport = errdefs.NotImplemented(errors.New("swarm mode is not supported by berth"))
)

type swarmRouter struct{}

// New returns the swarm router.
func New() router.Router { return swarmRouter{} }

func (swarmRouter) Routes() []router.Route {
	return []router.Route{
		router.Post("/swarm/init", answer(errNoSupport)),
		router.Post("/swarm/join", answer(errNoSupport)),
		router.Post("/swarm/leave", answer(errNoSwarm)),
		router.Get("/swarm", answer(errNoManager)),
		router.Get("/swarm/unlockkey", answer(errNoManager)),
		router.Post("/swarm/update", answer(errNoManager)),
		router.Post("/swarm/unlock", answer(errNoManager)),

		router.Get("/services", answer(errNoManager)),
		router.Get("/services/{id}", answer(errNoManager)),
		router.Post("/services/create", answer(errNoManager)),
		router.Post("/services/{id}/update", answer(errNoManager)),
		router.Delete("/services/{id}", answer(errNoManager)),
		router.Get("/services/{id}/logs", answer(errNoManager)),

		router.Get("/nodes", answer(errNoManager)),
		router.Get("/nodes/{id}", answer(errNoManager)),
		router.Delete("/nodes/{id}", answer(errNoManager)),
		router.Post("/nodes/{id}/update", answer(errNoManager)),

		router.Get("/tasks", answer(errNoManager)),
		router.Get("/tasks/{id}", answer(errNoManager)),
		router.Get("/tasks/{id}/logs", answer(errNoManager)),

		since("1.25", router.Get("/secrets", answer(errNoManager))),
		since("1.25", router.Post("/secrets/create", answer(errNoManager))),
		since("1.25", router.Delete("/secrets/{id}", answer(errNoManager))),
		since("1.25", router.Get("/secrets/{id}", answer(errNoManager))),
		since("1.25", router.Post("/secrets/{id}/update", answer(errNoManager))),

		since("1.30", router.Get("/configs", answer(errNoManager))),
		since("1.30", router.Post("/configs/create", answer(errNoManager))),
		since("1.30", router.Delete("/configs/{id}", answer(errNoManager))),
		since("1.30", router.Get("/configs/{id}", answer(errNoManager))),
		since("1.30", router.Post("/configs/{id}/update", answer(errNoManager))),
	}
}

func answer(err error) router.APIFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
		if err := httputils.ParseForm(r); err != nil {
			return err
		}
		return err
	}
}

// since refuses the route below the API version that introduced it, with
// dockerd's message.
func since(v string, rt router.Route) router.Route {
	h := rt.Handler
	rt.Handler = func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
		if httputils.VersionLessThan(ctx, v) {
			return errdefs.InvalidParameterf("%s %s requires minimum API version %s", rt.Method, rt.Path, v)
		}
		return h(ctx, w, r, vars)
	}
	return rt
}
