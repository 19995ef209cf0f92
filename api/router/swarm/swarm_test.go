package swarm

import (
	"net/http"
	"testing"

	"github.com/berthd/berth/api/server/servertest"
)

func TestSwarmRoutes(t *testing.T) {
	const noManager = "This node is not a swarm manager"
	servertest.Run(t, servertest.Handler(New()), nil, []servertest.Case{
		{Name: "init is not supported", Method: "POST", Path: "/swarm/init", Body: "{}", Status: http.StatusNotImplemented, Contains: []string{"not supported by berth"}},
		{Name: "join is not supported", Method: "POST", Path: "/swarm/join", Body: "{}", Status: http.StatusNotImplemented},
		{Name: "leave outside a swarm", Method: "POST", Path: "/swarm/leave", Status: http.StatusServiceUnavailable, Contains: []string{"This node is not part of a swarm"}},
		{Name: "inspect", Path: "/swarm", Status: http.StatusServiceUnavailable, Contains: []string{noManager}},
		{Name: "services", Path: "/services", Status: http.StatusServiceUnavailable, Contains: []string{noManager}},
		{Name: "service logs", Path: "/services/x/logs", Status: http.StatusServiceUnavailable},
		{Name: "nodes", Version: "1.50", Path: "/nodes", Status: http.StatusServiceUnavailable},
		{Name: "tasks", Path: "/tasks/t1", Status: http.StatusServiceUnavailable},
		{Name: "secrets from 1.25", Version: "1.25", Path: "/secrets", Status: http.StatusServiceUnavailable},
		{Name: "secrets before 1.25", Version: "1.24", Path: "/secrets", Status: http.StatusBadRequest, Contains: []string{"GET /secrets requires minimum API version 1.25"}},
		{Name: "configs from 1.30", Version: "1.30", Method: "POST", Path: "/configs/create", Body: "{}", Status: http.StatusServiceUnavailable},
		{Name: "configs before 1.30", Version: "1.29", Method: "DELETE", Path: "/configs/c1", Status: http.StatusBadRequest, Contains: []string{"DELETE /configs/{id} requires minimum API version 1.30"}},
		{Name: "bad query", Path: "/services", Query: "filters=%zz", Status: http.StatusBadRequest},
		{Name: "version above the newest", Version: "9.99", Path: "/swarm", Status: http.StatusBadRequest, Contains: []string{"is too new"}},
	})
}
