package plugin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moby/moby/api/types/plugin"

	"github.com/berthd/berth/api/server/servertest"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

// fakeBackend knows one installed plugin and records what it was asked.
type fakeBackend struct {
	listArgs filters.Args
	gets     []string
}

func (f *fakeBackend) PluginList(_ context.Context, args filters.Args) ([]plugin.Plugin, error) {
	f.listArgs = args
	return []plugin.Plugin{{ID: "p1", Name: "vieux/sshfs:latest"}}, nil
}

func (f *fakeBackend) PluginGet(_ context.Context, name string) (*plugin.Plugin, error) {
	f.gets = append(f.gets, name)
	if name != "vieux/sshfs:latest" {
		return nil, errdefs.NotFoundf("plugin %q not found", name)
	}
	return &plugin.Plugin{ID: "p1", Name: name}, nil
}

func (f *fakeBackend) PluginUnavailable(context.Context) error {
	return errdefs.Unavailable(errors.New("plugins cannot be installed"))
}

func TestPluginRoutes(t *testing.T) {
	f := &fakeBackend{}
	asked := func(names ...string) func(*testing.T, *httptest.ResponseRecorder) {
		return func(t *testing.T, _ *httptest.ResponseRecorder) {
			if len(f.gets) != len(names) || (len(names) > 0 && f.gets[0] != names[0]) {
				t.Errorf("PluginGet calls = %q, want %q", f.gets, names)
			}
		}
	}
	servertest.Run(t, servertest.Handler(New(f)), func() { *f = fakeBackend{} }, []servertest.Case{
		{Name: "list", Path: "/plugins", Status: http.StatusOK, Contains: []string{`"Name":"vieux/sshfs:latest"`}},
		{Name: "list with filters", Path: "/plugins", Query: `filters={"capability":{"volumedriver":true}}`, Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if !f.listArgs.ExactMatch("capability", "volumedriver") {
					t.Errorf("filters not passed on: %+v", f.listArgs)
				}
			}},
		{Name: "list with bad filters", Path: "/plugins", Query: "filters={", Status: http.StatusBadRequest},
		{Name: "inspect", Path: "/plugins/vieux/sshfs:latest/json", Status: http.StatusOK, Contains: []string{`"Id":"p1"`}, Check: asked("vieux/sshfs:latest")},
		{Name: "inspect missing", Path: "/plugins/nope/json", Status: http.StatusNotFound, Contains: []string{`plugin \"nope\" not found`}},
		{Name: "remove missing", Method: "DELETE", Path: "/plugins/nope", Status: http.StatusNotFound},
		{Name: "disable missing", Method: "POST", Path: "/plugins/nope/disable", Status: http.StatusNotFound},
		{Name: "enable parses the timeout first", Method: "POST", Path: "/plugins/nope/enable", Query: "timeout=x", Status: http.StatusBadRequest, Check: asked()},
		{Name: "enable missing", Method: "POST", Path: "/plugins/nope/enable", Query: "timeout=0", Status: http.StatusNotFound, Check: asked("nope")},
		{Name: "set reads the body first", Method: "POST", Path: "/plugins/nope/set", Body: "{", Status: http.StatusBadRequest, Check: asked()},
		{Name: "set missing", Method: "POST", Path: "/plugins/nope/set", Body: `["DEBUG=1"]`, Status: http.StatusNotFound},
		{Name: "pull", Method: "POST", Path: "/plugins/pull", Query: "remote=x", Status: http.StatusServiceUnavailable},
		{Name: "privileges", Path: "/plugins/privileges", Query: "remote=x", Status: http.StatusServiceUnavailable},
		{Name: "upgrade before 1.26", Version: "1.25", Method: "POST", Path: "/plugins/vieux/sshfs:latest/upgrade", Status: http.StatusBadRequest,
			Contains: []string{"requires minimum API version 1.26"}, Check: asked()},
		{Name: "upgrade missing", Version: "1.26", Method: "POST", Path: "/plugins/nope/upgrade", Status: http.StatusNotFound},
		{Name: "upgrade installed", Method: "POST", Path: "/plugins/vieux/sshfs:latest/upgrade", Status: http.StatusServiceUnavailable},
	})
}
