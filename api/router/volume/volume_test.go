package volume

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moby/moby/api/types/volume"

	"github.com/berthd/berth/api/server/servertest"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

// tableBackend has one volume, "data", in use by a container, and
// records what it was asked.
type tableBackend struct {
	args    filters.Args
	created *volume.CreateRequest
	force   bool
}

func (b *tableBackend) VolumeList(_ context.Context, args filters.Args) ([]volume.Volume, []string, error) {
	b.args = args
	return []volume.Volume{{Name: "data", Driver: "local"}}, nil, nil
}

func (b *tableBackend) VolumeInspect(_ context.Context, name string) (*volume.Volume, error) {
	if name != "data" {
		return nil, errdefs.NotFoundf("get %s: no such volume", name)
	}
	return &volume.Volume{Name: "data", Driver: "local", Mountpoint: "/var/lib/berth/volumes/data/_data"}, nil
}

func (b *tableBackend) VolumeCreate(_ context.Context, req volume.CreateRequest) (*volume.Volume, error) {
	b.created = &req
	if req.Driver == "nfs-plugin" {
		return nil, errdefs.NotFoundf("plugin %q not found", req.Driver)
	}
	return &volume.Volume{Name: req.Name, Driver: "local"}, nil
}

func (b *tableBackend) VolumeRemove(_ context.Context, name string, force bool) error {
	b.force = force
	switch {
	case name != "data":
		return errdefs.NotFoundf("get %s: no such volume", name)
	case !force:
		return errdefs.Conflictf("remove %s: volume is in use - [c1]", name)
	}
	return nil
}

func (b *tableBackend) VolumesPrune(_ context.Context, args filters.Args) (*volume.PruneReport, error) {
	b.args = args
	return &volume.PruneReport{}, nil
}

func TestVolumeRoutes(t *testing.T) {
	b := &tableBackend{}
	pruneAll := func(want bool) func(*testing.T, *httptest.ResponseRecorder) {
		return func(t *testing.T, _ *httptest.ResponseRecorder) {
			if b.args.Contains("all") != want {
				t.Errorf("prune filters = %+v, want all=%v", b.args, want)
			}
		}
	}
	servertest.Run(t, servertest.Handler(New(b)), func() { *b = tableBackend{} }, []servertest.Case{
		{Name: "list", Path: "/volumes", Query: `filters={"dangling":{"true":true}}`, Status: http.StatusOK, Contains: []string{`"Name":"data"`},
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if !b.args.Contains("dangling") {
					t.Errorf("filters = %+v", b.args)
				}
			}},
		{Name: "list: bad filters", Path: "/volumes", Query: "filters={", Status: http.StatusBadRequest},
		{Name: "inspect", Path: "/volumes/data", Status: http.StatusOK, Contains: []string{`"Mountpoint":"/var/lib/berth/volumes/data/_data"`}},
		{Name: "inspect missing", Path: "/volumes/nope", Status: http.StatusNotFound, Contains: []string{"get nope: no such volume"}},
		{Name: "create", Method: "POST", Path: "/volumes/create", Body: `{"Name":"v1","DriverOpts":{"type":"tmpfs"},"Labels":{"a":"b"}}`, Status: http.StatusCreated,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if b.created == nil || b.created.Name != "v1" || b.created.DriverOpts["type"] != "tmpfs" || b.created.Labels["a"] != "b" {
					t.Errorf("create request = %+v", b.created)
				}
			}},
		{Name: "create: unknown driver", Method: "POST", Path: "/volumes/create", Body: `{"Driver":"nfs-plugin"}`, Status: http.StatusNotFound},
		{Name: "create: not JSON", Method: "POST", Path: "/volumes/create", Body: `{"Name":`, Status: http.StatusBadRequest},
		{Name: "create: cluster volume", Method: "POST", Path: "/volumes/create", Body: `{"Name":"c","ClusterVolumeSpec":{}}`, Status: http.StatusServiceUnavailable,
			Contains: []string{"not a swarm manager"}},
		{Name: "create: cluster spec ignored before 1.42", Version: "1.41", Method: "POST", Path: "/volumes/create", Body: `{"Name":"c","ClusterVolumeSpec":{}}`, Status: http.StatusCreated},
		{Name: "update", Method: "PUT", Path: "/volumes/data", Query: "version=1", Body: `{}`, Status: http.StatusServiceUnavailable},
		{Name: "update before 1.42", Version: "1.41", Method: "PUT", Path: "/volumes/data", Body: `{}`, Status: http.StatusBadRequest,
			Contains: []string{"volume update only supported from api version 1.42"}},
		{Name: "remove in use", Method: "DELETE", Path: "/volumes/data", Status: http.StatusConflict, Contains: []string{"volume is in use"}},
		{Name: "remove forced", Method: "DELETE", Path: "/volumes/data", Query: "force=1", Status: http.StatusNoContent},
		{Name: "remove missing", Method: "DELETE", Path: "/volumes/nope", Status: http.StatusNotFound},
		{Name: "prune", Method: "POST", Path: "/volumes/prune", Status: http.StatusOK, Contains: []string{`"VolumesDeleted":[]`}, Check: pruneAll(false)},
		{Name: "prune: every unused volume before 1.42", Version: "1.41", Method: "POST", Path: "/volumes/prune", Status: http.StatusOK, Check: pruneAll(true)},
		{Name: "prune: bad filters", Method: "POST", Path: "/volumes/prune", Query: "filters=[", Status: http.StatusBadRequest},
	})
}
