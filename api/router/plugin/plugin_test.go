package plugin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
	// pulled is the last pull's remote, name and privileges.
	pulled     []string
	privileges plugin.Privileges
	created    string
	forced     bool
	timeout    int
	set        []string
}

func (f *fakeBackend) find(name string) error {
	f.gets = append(f.gets, name)
	if name != "vieux/sshfs:latest" {
		return errdefs.NotFoundf("plugin %q not found", name)
	}
	return nil
}

func (f *fakeBackend) PluginList(_ context.Context, args filters.Args) ([]plugin.Plugin, error) {
	f.listArgs = args
	return []plugin.Plugin{{ID: "p1", Name: "vieux/sshfs:latest"}}, nil
}

func (f *fakeBackend) PluginGet(_ context.Context, name string) (*plugin.Plugin, error) {
	if err := f.find(name); err != nil {
		return nil, err
	}
	return &plugin.Plugin{ID: "p1", Name: name}, nil
}

func (f *fakeBackend) PluginPrivileges(_ context.Context, remote, _ string) (plugin.Privileges, error) {
	if remote != "vieux/sshfs" {
		return nil, errdefs.NotFoundf("no plugin at %s", remote)
	}
	return plugin.Privileges{{Name: "network", Value: []string{"host"}}}, nil
}

func (f *fakeBackend) PluginPull(_ context.Context, remote, name string, p plugin.Privileges, _ string, status func(string)) error {
	f.pulled, f.privileges = []string{remote, name}, p
	if remote == "unreachable/x" {
		return errdefs.Unavailable(errors.New("registry down"))
	}
	status("Pulling from " + remote)
	if remote == "broken/x" {
		return errors.New("layer digest mismatch")
	}
	return nil
}

func (f *fakeBackend) PluginUpgrade(_ context.Context, name, remote string, _ plugin.Privileges, _ string, _ func(string)) error {
	return f.find(name)
}

func (f *fakeBackend) PluginPush(_ context.Context, name, _ string, status func(string)) error {
	if err := f.find(name); err != nil {
		return err
	}
	status("pushed")
	return nil
}

func (f *fakeBackend) PluginCreate(_ context.Context, name string, body io.Reader) error {
	b, _ := io.ReadAll(body)
	f.created = name + ":" + string(b)
	return nil
}

func (f *fakeBackend) PluginEnable(_ context.Context, name string, timeout int) error {
	f.timeout = timeout
	return f.find(name)
}

func (f *fakeBackend) PluginDisable(_ context.Context, name string, force bool) error {
	f.forced = force
	return f.find(name)
}

func (f *fakeBackend) PluginRemove(_ context.Context, name string, force bool) error {
	f.forced = force
	return f.find(name)
}

func (f *fakeBackend) PluginSet(_ context.Context, name string, args []string) error {
	f.set = args
	return f.find(name)
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
		{Name: "pull names the plugin after its remote", Method: "POST", Path: "/plugins/pull", Query: "remote=vieux/sshfs", Body: `[{"Name":"network","Value":["host"]}]`,
			Status: http.StatusOK, Contains: []string{`"status":"Pulling from vieux/sshfs"`},
			Check: func(t *testing.T, w *httptest.ResponseRecorder) {
				if got := w.Header().Get("Docker-Plugin-Name"); got != "vieux/sshfs:latest" {
					t.Errorf("Docker-Plugin-Name %q", got)
				}
				if len(f.privileges) != 1 || f.privileges[0].Name != "network" || f.pulled[1] != "vieux/sshfs:latest" {
					t.Errorf("pull got %q %+v", f.pulled, f.privileges)
				}
			}},
		{Name: "pull with an alias", Method: "POST", Path: "/plugins/pull", Query: "remote=vieux/sshfs:1.0&name=mine", Body: "[]", Status: http.StatusOK,
			Check: func(t *testing.T, w *httptest.ResponseRecorder) {
				if w.Header().Get("Docker-Plugin-Name") != "mine:latest" || f.pulled[0] != "vieux/sshfs:1.0" {
					t.Errorf("alias: header %q, pulled %q", w.Header().Get("Docker-Plugin-Name"), f.pulled)
				}
			}},
		{Name: "pull by digest keeps the tag in the name", Method: "POST", Path: "/plugins/pull", Query: "remote=vieux/sshfs:2.0@sha256:" + strings.Repeat("a", 64), Body: "[]", Status: http.StatusOK,
			Check: func(t *testing.T, w *httptest.ResponseRecorder) {
				if got := w.Header().Get("Docker-Plugin-Name"); got != "vieux/sshfs:2.0" {
					t.Errorf("Docker-Plugin-Name %q", got)
				}
			}},
		{Name: "pull to a digest name", Method: "POST", Path: "/plugins/pull", Query: "remote=x&name=y@sha256:" + strings.Repeat("a", 64), Body: "[]", Status: http.StatusBadRequest,
			Contains: []string{"cannot use digest in plugin tag"}},
		{Name: "pull of a bad reference", Method: "POST", Path: "/plugins/pull", Query: "remote=UPPER", Body: "[]", Status: http.StatusBadRequest},
		{Name: "pull failing before progress is an HTTP error", Method: "POST", Path: "/plugins/pull", Query: "remote=unreachable/x", Body: "[]", Status: http.StatusServiceUnavailable},
		{Name: "pull failing after progress ends the stream", Method: "POST", Path: "/plugins/pull", Query: "remote=broken/x", Body: "[]", Status: http.StatusOK,
			Contains: []string{`"error":"layer digest mismatch"`}},
		{Name: "privileges", Path: "/plugins/privileges", Query: "remote=vieux/sshfs", Status: http.StatusOK, Contains: []string{`"Name":"network"`}},
		{Name: "privileges of nothing", Path: "/plugins/privileges", Query: "remote=x", Status: http.StatusNotFound},
		{Name: "upgrade before 1.26", Version: "1.25", Method: "POST", Path: "/plugins/vieux/sshfs:latest/upgrade", Status: http.StatusBadRequest,
			Contains: []string{"requires minimum API version 1.26"}, Check: asked()},
		{Name: "upgrade missing", Version: "1.26", Method: "POST", Path: "/plugins/nope/upgrade", Query: "remote=x", Body: "[]", Status: http.StatusNotFound},
		{Name: "upgrade installed", Method: "POST", Path: "/plugins/vieux/sshfs:latest/upgrade", Query: "remote=vieux/sshfs:2", Body: "[]", Status: http.StatusOK},
		{Name: "push", Method: "POST", Path: "/plugins/vieux/sshfs:latest/push", Status: http.StatusOK, Contains: []string{`"status":"pushed"`}},
		{Name: "push missing", Method: "POST", Path: "/plugins/nope/push", Status: http.StatusNotFound},
		{Name: "create", Method: "POST", Path: "/plugins/create", Query: "name=p", Body: "tarball", Status: http.StatusNoContent,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if f.created != "p:tarball" {
					t.Errorf("create got %q", f.created)
				}
			}},
		{Name: "enable", Method: "POST", Path: "/plugins/vieux/sshfs:latest/enable", Query: "timeout=7", Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if f.timeout != 7 {
					t.Errorf("timeout %d", f.timeout)
				}
			}},
		{Name: "disable with force", Method: "POST", Path: "/plugins/vieux/sshfs:latest/disable", Query: "force=1", Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if !f.forced {
					t.Error("force not passed on")
				}
			}},
		{Name: "remove", Method: "DELETE", Path: "/plugins/vieux/sshfs:latest", Status: http.StatusOK},
		{Name: "set", Method: "POST", Path: "/plugins/vieux/sshfs:latest/set", Body: `["DEBUG=1"]`, Status: http.StatusNoContent,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if len(f.set) != 1 || f.set[0] != "DEBUG=1" {
					t.Errorf("set got %q", f.set)
				}
			}},
	})
}
