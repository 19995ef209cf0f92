package image

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/berthd/berth/api/server/servertest"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

// fakeBackend has one image, "busybox:latest" (ID sha256:b1), and one
// untagged image; it records what it was asked.
type fakeBackend struct {
	listOpts  backend.ImageListOptions
	tagged    [3]string
	deleted   string
	force     bool
	prune     bool
	loadErr   error
	loadLines []string
	imported  backend.ImageImportOptions
	exported  []string
}

var errNoImage = errdefs.NotFoundf("No such image: missing:latest")

func (f *fakeBackend) Images(_ context.Context, opts backend.ImageListOptions) ([]*imagetypes.Summary, error) {
	f.listOpts = opts
	return []*imagetypes.Summary{{ID: "sha256:b1", RepoTags: []string{"busybox:latest"}}, {ID: "sha256:u1"}}, nil
}

func (f *fakeBackend) ImageInspect(_ context.Context, name string, _ backend.ImageInspectOptions) (*backend.ImageInspectResponse, error) {
	if name != "busybox:latest" {
		return nil, errNoImage
	}
	return &backend.ImageInspectResponse{InspectResponse: &imagetypes.InspectResponse{ID: "sha256:b1", Size: 100}, Parent: "sha256:p0"}, nil
}

func (f *fakeBackend) ImageHistory(_ context.Context, name string) ([]*imagetypes.HistoryResponseItem, error) {
	if name != "busybox:latest" {
		return nil, errNoImage
	}
	return []*imagetypes.HistoryResponseItem{{ID: "sha256:b1", CreatedBy: "ADD rootfs"}}, nil
}

func (f *fakeBackend) TagImage(_ context.Context, name, repo, tag string) error {
	f.tagged = [3]string{name, repo, tag}
	if repo == "" {
		return errdefs.InvalidParameterf("repository name must have at least one component")
	}
	return nil
}

func (f *fakeBackend) ImageDelete(_ context.Context, name string, force, prune bool) ([]imagetypes.DeleteResponse, error) {
	f.deleted, f.force, f.prune = name, force, prune
	if name == "used" {
		return nil, errdefs.Conflictf("conflict: unable to remove repository reference %q (must force)", name)
	}
	return []imagetypes.DeleteResponse{{Untagged: name}}, nil
}

func (f *fakeBackend) ImagesPrune(_ context.Context, args filters.Args) (*imagetypes.PruneReport, error) {
	return &imagetypes.PruneReport{SpaceReclaimed: 7}, nil
}

func (f *fakeBackend) LoadImage(_ context.Context, r io.Reader, quiet bool, out backend.LoadOutput) error {
	for _, l := range f.loadLines {
		out.Line(l)
	}
	return f.loadErr
}

func (f *fakeBackend) PrepareExport(_ context.Context, names []string) (func(io.Writer) error, error) {
	f.exported = names
	for _, n := range names {
		if n != "busybox:latest" {
			return nil, errNoImage
		}
	}
	return func(w io.Writer) error { _, err := io.WriteString(w, "tar"); return err }, nil
}

func (f *fakeBackend) ImportImage(_ context.Context, r io.Reader, opts backend.ImageImportOptions) (string, error) {
	f.imported = opts
	return "sha256:i1", nil
}

// fakeRegistry adds pulls to fakeBackend.
type fakeRegistry struct {
	*fakeBackend
	pulled, auth string
}

func (f *fakeRegistry) PullImage(_ context.Context, image, tag, platform, auth string, out func(jsonstream.Message) error) error {
	f.pulled, f.auth = image+":"+tag, auth
	if image == "missing" {
		return errdefs.NotFoundf("pull access denied for missing")
	}
	_ = out(jsonstream.Message{Status: "Pulling from library/" + image})
	return errors.New("unexpected EOF")
}

func (f *fakeRegistry) PushImage(context.Context, string, string, string, func(jsonstream.Message) error) error {
	return nil
}

func (f *fakeRegistry) DistributionInspect(context.Context, string, string) (*registry.DistributionInspect, error) {
	return &registry.DistributionInspect{}, nil
}

func (f *fakeRegistry) SearchRegistry(_ context.Context, _ filters.Args, term string, limit int, _ string) ([]registry.SearchResult, error) {
	return []registry.SearchResult{{Name: term, StarCount: limit}}, nil
}

func TestImageRoutes(t *testing.T) {
	f := &fakeBackend{}
	reset := func() { *f = fakeBackend{} }
	listed := func(check func(backend.ImageListOptions) bool) func(*testing.T, *httptest.ResponseRecorder) {
		return func(t *testing.T, _ *httptest.ResponseRecorder) {
			if !check(f.listOpts) {
				t.Errorf("list options = %+v", f.listOpts)
			}
		}
	}
	servertest.Run(t, servertest.Handler(New(f)), reset, []servertest.Case{
		{Name: "list", Path: "/images/json", Query: "all=1&shared-size=1", Status: http.StatusOK, Contains: []string{`"RepoTags":["busybox:latest"]`},
			Check: listed(func(o backend.ImageListOptions) bool { return o.All && o.SharedSize && o.ContainerCount })},
		{Name: "list: shared-size from 1.42", Version: "1.41", Path: "/images/json", Query: "shared-size=1", Status: http.StatusOK,
			Check: listed(func(o backend.ImageListOptions) bool { return !o.SharedSize && !o.ContainerCount })},
		{Name: "list: filter= before 1.41", Version: "1.40", Path: "/images/json", Query: "filter=busy*", Status: http.StatusOK,
			Check: listed(func(o backend.ImageListOptions) bool { return o.Filters.Contains("reference") })},
		{Name: "list: filter= ignored from 1.41", Version: "1.41", Path: "/images/json", Query: "filter=busy*", Status: http.StatusOK,
			Check: listed(func(o backend.ImageListOptions) bool { return !o.Filters.Contains("reference") })},
		{Name: "list: <none> before 1.43", Version: "1.42", Path: "/images/json", Status: http.StatusOK, Contains: []string{`"RepoTags":["<none>:<none>"]`}},
		{Name: "list: identity needs manifests", Path: "/images/json", Query: "identity=1", Status: http.StatusBadRequest, Contains: []string{"identity requires manifests=1"}},
		{Name: "list: bad filters", Path: "/images/json", Query: "filters=x", Status: http.StatusBadRequest},
		{Name: "inspect", Path: "/images/busybox:latest/json", Status: http.StatusOK,
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if strings.Contains(rec.Body.String(), "Parent") || strings.Contains(rec.Body.String(), "VirtualSize") {
					t.Errorf("current shape has legacy fields: %s", rec.Body)
				}
			}},
		{Name: "inspect before 1.44", Version: "1.43", Path: "/images/busybox:latest/json", Status: http.StatusOK,
			Contains: []string{`"Parent":"sha256:p0"`, `"VirtualSize":100`, `"ContainerConfig":{`}},
		{Name: "inspect missing", Path: "/images/missing:latest/json", Status: http.StatusNotFound, Contains: []string{"No such image: missing:latest"}},
		{Name: "history", Path: "/images/busybox:latest/history", Status: http.StatusOK, Contains: []string{"ADD rootfs"}},
		{Name: "history missing", Path: "/images/missing/history", Status: http.StatusNotFound},
		{Name: "tag", Method: "POST", Path: "/images/busybox:latest/tag", Query: "repo=me/b&tag=v1", Status: http.StatusCreated,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if f.tagged != [3]string{"busybox:latest", "me/b", "v1"} {
					t.Errorf("tagged %q", f.tagged)
				}
			}},
		{Name: "tag without repo", Method: "POST", Path: "/images/busybox:latest/tag", Status: http.StatusBadRequest},
		{Name: "remove", Method: "DELETE", Path: "/images/busybox:latest", Query: "force=1&noprune=1", Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if f.deleted != "busybox:latest" || !f.force || f.prune {
					t.Errorf("delete(%q, force %v, prune %v)", f.deleted, f.force, f.prune)
				}
			}},
		{Name: "remove in use", Method: "DELETE", Path: "/images/used", Status: http.StatusConflict},
		{Name: "prune", Method: "POST", Path: "/images/prune", Status: http.StatusOK, Contains: []string{`"SpaceReclaimed":7`}},
		{Name: "prune: bad filters", Method: "POST", Path: "/images/prune", Query: "filters={", Status: http.StatusBadRequest},
		{Name: "save one", Path: "/images/busybox:latest/get", Status: http.StatusOK, Contains: []string{"tar"}},
		{Name: "save missing is a status, not a broken tar", Path: "/images/get", Query: "names=busybox:latest&names=missing", Status: http.StatusNotFound},
		{Name: "save without names", Path: "/images/get", Status: http.StatusBadRequest, Contains: []string{"no image names given"}},
		{Name: "import from stdin", Method: "POST", Path: "/images/create", Query: "fromSrc=-&repo=r&tag=t&changes=CMD+x&changes=ENV+a=b", Body: "rootfs", Status: http.StatusOK,
			Contains: []string{`"status":"sha256:i1"`},
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if o := f.imported; o.Repo != "r" || o.Tag != "t" || len(o.Changes) != 2 {
					t.Errorf("import options = %+v", o)
				}
			}},
		{Name: "import from a URL", Method: "POST", Path: "/images/create", Query: "fromSrc=http://x/rootfs.tar", Status: http.StatusNotImplemented},
		{Name: "create without a source", Method: "POST", Path: "/images/create", Status: http.StatusBadRequest, Contains: []string{"either fromSrc or fromImage is required"}},
		{Name: "pull without a registry backend", Method: "POST", Path: "/images/create", Query: "fromImage=busybox", Status: http.StatusNotImplemented},
		{Name: "search without a registry backend", Path: "/images/search", Query: "term=x", Status: http.StatusNotImplemented},
	})

	// Load reports in a stream once it has begun; a failure before that
	// keeps its status.
	servertest.Run(t, servertest.Handler(New(f)), func() { *f = fakeBackend{loadErr: errdefs.InvalidParameterf("invalid tar header")} }, []servertest.Case{
		{Name: "load rejected before output", Method: "POST", Path: "/images/load", Body: "x", Status: http.StatusBadRequest, Contains: []string{"invalid tar header"}},
	})
	servertest.Run(t, servertest.Handler(New(f)), func() {
		*f = fakeBackend{loadLines: []string{"Loaded image: busybox:latest"}, loadErr: errors.New("disk full")}
	}, []servertest.Case{
		{Name: "load failing after output", Method: "POST", Path: "/images/load", Body: "x", Status: http.StatusOK,
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				dec := json.NewDecoder(rec.Body)
				var lines []loadMessage
				for dec.More() {
					var m loadMessage
					if err := dec.Decode(&m); err != nil {
						t.Fatal(err)
					}
					lines = append(lines, m)
				}
				if len(lines) != 2 || lines[0].Stream != "Loaded image: busybox:latest\n" || lines[1].ErrorMessage != "disk full" || lines[1].Error == nil {
					t.Errorf("load stream = %+v", lines)
				}
			}},
	})
	servertest.Run(t, servertest.Handler(New(f)), reset, []servertest.Case{
		{Name: "load of an empty archive", Method: "POST", Path: "/images/load", Body: "x", Status: http.StatusOK},
	})

	r := &fakeRegistry{fakeBackend: f}
	servertest.Run(t, servertest.Handler(New(r)), reset, []servertest.Case{
		{Name: "pull not found before output", Method: "POST", Path: "/images/create", Query: "fromImage=missing&tag=latest", Status: http.StatusNotFound},
		{Name: "pull failing after output", Method: "POST", Path: "/images/create", Query: "fromImage=busybox&tag=1", Status: http.StatusOK,
			Contains: []string{"Pulling from library/busybox", `"error":"unexpected EOF"`},
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if r.pulled != "busybox:1" {
					t.Errorf("pulled %q", r.pulled)
				}
			}},
		{Name: "search", Path: "/images/search", Query: "term=busybox&limit=5", Status: http.StatusOK, Contains: []string{`"name":"busybox"`, `"star_count":5`}},
		{Name: "search: bad limit", Path: "/images/search", Query: "term=x&limit=many", Status: http.StatusBadRequest, Contains: []string{"invalid limit"}},
	})
}
