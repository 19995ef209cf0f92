package network

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/api/server/servertest"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

// fakeBackend has one network, "net1", and records what it was asked.
type fakeBackend struct {
	listArgs    filters.Args
	inspectOpts backend.NetworkInspectOptions
	created     *network.CreateRequest
	connected   network.ConnectRequest
}

func errNoNetwork(term string) error { return errdefs.NotFoundf("network %s not found", term) }

func (f *fakeBackend) NetworkList(_ context.Context, args filters.Args) ([]network.Inspect, error) {
	f.listArgs = args
	return []network.Inspect{{Network: network.Network{Name: "net1", ID: "n1", Driver: "bridge"}}}, nil
}

func (f *fakeBackend) NetworkInspect(_ context.Context, term string, opts backend.NetworkInspectOptions) (network.Inspect, error) {
	f.inspectOpts = opts
	if term != "net1" {
		return network.Inspect{}, errNoNetwork(term)
	}
	return network.Inspect{Network: network.Network{Name: "net1", ID: "n1"}}, nil
}

func (f *fakeBackend) NetworkCreate(_ context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	f.created = &req
	if req.Name == "net1" {
		return network.CreateResponse{}, errdefs.Conflictf("network with name net1 already exists")
	}
	return network.CreateResponse{ID: "n2"}, nil
}

func (f *fakeBackend) NetworkRemove(_ context.Context, term string) error {
	if term != "net1" {
		return errNoNetwork(term)
	}
	return nil
}

func (f *fakeBackend) NetworkConnect(_ context.Context, term string, req network.ConnectRequest) error {
	f.connected = req
	if term != "net1" {
		return errNoNetwork(term)
	}
	return nil
}

func (f *fakeBackend) NetworkDisconnect(_ context.Context, term string, _ network.DisconnectRequest) error {
	if term != "net1" {
		return errNoNetwork(term)
	}
	return nil
}

func (f *fakeBackend) NetworksPrune(context.Context, filters.Args) (network.PruneReport, error) {
	return network.PruneReport{NetworksDeleted: []string{"old"}}, nil
}

func TestNetworkRoutes(t *testing.T) {
	f := &fakeBackend{}
	created := func(check func(network.CreateRequest) bool) func(*testing.T, *httptest.ResponseRecorder) {
		return func(t *testing.T, _ *httptest.ResponseRecorder) {
			if f.created == nil || !check(*f.created) {
				t.Errorf("create request = %+v", f.created)
			}
		}
	}
	notCreated := func(t *testing.T, _ *httptest.ResponseRecorder) {
		if f.created != nil {
			t.Errorf("the backend was asked to create %+v", f.created)
		}
	}
	inspected := func(want backend.NetworkInspectOptions) func(*testing.T, *httptest.ResponseRecorder) {
		return func(t *testing.T, _ *httptest.ResponseRecorder) {
			if f.inspectOpts != want {
				t.Errorf("inspect options = %+v, want %+v", f.inspectOpts, want)
			}
		}
	}
	servertest.Run(t, servertest.Handler(New(f)), func() { *f = fakeBackend{} }, []servertest.Case{
		{Name: "list: summary shape", Path: "/networks", Status: http.StatusOK,
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if b := rec.Body.String(); b == "" || strings.Contains(b, `"Containers"`) {
					t.Errorf("1.52+ list has inspect's fields: %s", b)
				}
			}},
		{Name: "list: inspect shape before 1.52", Version: "1.51", Path: "/networks/", Status: http.StatusOK, Contains: []string{`"Containers":{}`}},
		{Name: "list: filters passed on", Path: "/networks", Query: `filters={"driver":{"bridge":true}}`, Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if !f.listArgs.ExactMatch("driver", "bridge") {
					t.Errorf("filters = %+v", f.listArgs)
				}
			}},
		{Name: "list: bad filters", Path: "/networks", Query: "filters={", Status: http.StatusBadRequest},
		{Name: "inspect", Path: "/networks/net1", Query: "verbose=true&scope=local", Status: http.StatusOK, Contains: []string{`"Containers":{}`},
			Check: inspected(backend.NetworkInspectOptions{Verbose: true, Scope: "local", WithStatus: true})},
		{Name: "inspect: status from 1.52", Version: "1.51", Path: "/networks/net1", Status: http.StatusOK, Check: inspected(backend.NetworkInspectOptions{})},
		{Name: "inspect: bad verbose", Path: "/networks/net1", Query: "verbose=maybe", Status: http.StatusBadRequest, Contains: []string{"invalid value for verbose: maybe"}},
		{Name: "inspect missing", Path: "/networks/nope", Status: http.StatusNotFound, Contains: []string{"network nope not found"}},
		{Name: "create", Method: "POST", Path: "/networks/create", Body: `{"Name":"net2","EnableIPv4":false,"IPAM":{"Driver":"default","Config":[{"Subnet":"10.9.0.0/16","Gateway":"::ffff:10.9.0.1","AuxiliaryAddresses":{"h":"10.9.0.5"}}]}}`,
			Status: http.StatusCreated, Contains: []string{`"Id":"n2"`},
			Check: created(func(r network.CreateRequest) bool {
				c := r.IPAM.Config
				return r.EnableIPv4 != nil && !*r.EnableIPv4 && r.IPAM.Driver == "default" && len(c) == 1 &&
					c[0].Subnet == netip.MustParsePrefix("10.9.0.0/16") && c[0].Gateway == netip.MustParseAddr("10.9.0.1") && c[0].AuxAddress["h"].IsValid()
			})},
		{Name: "create: EnableIPv4 ignored before 1.48", Version: "1.47", Method: "POST", Path: "/networks/create", Body: `{"Name":"net2","EnableIPv4":false}`,
			Status: http.StatusCreated, Check: created(func(r network.CreateRequest) bool { return r.EnableIPv4 == nil })},
		{Name: "create: one malformed address", Method: "POST", Path: "/networks/create", Body: `{"Name":"n","IPAM":{"Config":[{"Subnet":"300.1.1.0/24"}]}}`,
			Status: http.StatusBadRequest, Contains: []string{`invalid network config:\ninvalid subnet 300.1.1.0/24: invalid CIDR block notation`}, Check: notCreated},
		{Name: "create: every malformed address", Method: "POST", Path: "/networks/create", Body: `{"Name":"n","IPAM":{"Config":[{"Subnet":"10.0.0.0/8","IPRange":"x","Gateway":"y"}]}}`,
			Status: http.StatusBadRequest, Contains: []string{`invalid network config:\n* invalid ip-range x: invalid CIDR block notation\n* invalid gateway y: invalid address`}, Check: notCreated},
		{Name: "create: not JSON", Method: "POST", Path: "/networks/create", Body: `{`, Status: http.StatusBadRequest, Check: notCreated},
		{Name: "create: duplicate", Method: "POST", Path: "/networks/create", Body: `{"Name":"net1"}`, Status: http.StatusConflict},
		{Name: "remove", Method: "DELETE", Path: "/networks/net1", Status: http.StatusNoContent},
		{Name: "remove missing", Method: "DELETE", Path: "/networks/nope", Status: http.StatusNotFound},
		{Name: "connect", Method: "POST", Path: "/networks/net1/connect", Body: `{"Container":"c1","EndpointConfig":{"Aliases":["a"]}}`, Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if f.connected.Container != "c1" || f.connected.EndpointConfig == nil || len(f.connected.EndpointConfig.Aliases) != 1 {
					t.Errorf("connect request = %+v", f.connected)
				}
			}},
		{Name: "connect: not JSON", Method: "POST", Path: "/networks/net1/connect", Body: `[`, Status: http.StatusBadRequest},
		{Name: "connect missing", Method: "POST", Path: "/networks/nope/connect", Body: `{"Container":"c1"}`, Status: http.StatusNotFound},
		{Name: "disconnect", Method: "POST", Path: "/networks/net1/disconnect", Body: `{"Container":"c1","Force":true}`, Status: http.StatusOK},
		{Name: "disconnect missing", Method: "POST", Path: "/networks/nope/disconnect", Body: `{"Container":"c1"}`, Status: http.StatusNotFound},
		{Name: "prune", Method: "POST", Path: "/networks/prune", Status: http.StatusOK, Contains: []string{`"NetworksDeleted":["old"]`}},
		{Name: "prune: bad filters", Method: "POST", Path: "/networks/prune", Query: "filters=1", Status: http.StatusBadRequest},
	})
}
