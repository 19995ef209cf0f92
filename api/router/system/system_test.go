package system

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"

	"github.com/berthd/berth/api/server/servertest"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
)

// fakeBackend answers from fixed data: one past container event and a
// live stream that is already closed, so GET /events ends.
type fakeBackend struct {
	du     backend.DiskUsageOptions
	filter *backend.EventFilter
	// classic is a daemon whose BuildKit is off.
	classic bool
}

func (f *fakeBackend) BuilderVersion() string {
	if f.classic {
		return "1"
	}
	return "2"
}

func (f *fakeBackend) SystemInfo(context.Context) (*system.Info, error) {
	return &system.Info{ID: "engine-1", Name: "host"}, nil
}

func (f *fakeBackend) SystemVersion() system.VersionResponse {
	return system.VersionResponse{Version: "0.1.0", APIVersion: backend.DefaultAPIVersion, MinAPIVersion: backend.MinAPIVersion}
}

func (f *fakeBackend) SystemDiskUsage(_ context.Context, opts backend.DiskUsageOptions) (*backend.DiskUsage, error) {
	f.du = opts
	return &backend.DiskUsage{BuildCache: []*build.CacheRecord{{ID: "b1", Size: 5}, {ID: "b2", Size: 6}}}, nil
}

func (f *fakeBackend) SubscribeToEvents(ef backend.EventFilter) ([]events.Message, <-chan events.Message, func()) {
	f.filter = &ef
	live := make(chan events.Message)
	close(live)
	past := []events.Message{{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "c1", Attributes: map[string]string{"image": "busybox"}}}}
	return past, live, func() {}
}

func (f *fakeBackend) AuthenticateToRegistry(_ context.Context, auth *registry.AuthConfig) (string, string, error) {
	if auth.Password != "secret" {
		return "", "", errdefs.Unauthorized(errors.New("login failed"))
	}
	return "Login Succeeded", "tok", nil
}

func TestSystemRoutes(t *testing.T) {
	f := &fakeBackend{}
	subscribed := func(check func(backend.EventFilter) bool) func(*testing.T, *httptest.ResponseRecorder) {
		return func(t *testing.T, _ *httptest.ResponseRecorder) {
			if f.filter == nil || !check(*f.filter) {
				t.Errorf("event filter = %+v", f.filter)
			}
		}
	}
	notSubscribed := func(t *testing.T, _ *httptest.ResponseRecorder) {
		if f.filter != nil {
			t.Errorf("subscribed with %+v to a refused request", f.filter)
		}
	}
	past := time.Now().Add(-time.Hour).Unix()
	servertest.Run(t, servertest.Handler(New(f)), func() { *f = fakeBackend{} }, []servertest.Case{
		{Name: "ping", Path: "/_ping", Status: http.StatusOK, Contains: []string{"OK"},
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if rec.Header().Get("Swarm") != "inactive" || rec.Header().Get("API-Version") != backend.DefaultAPIVersion {
					t.Errorf("headers = %v", rec.Header())
				}
				if v := rec.Header().Get("Builder-Version"); v != "2" {
					t.Errorf("Builder-Version %q with BuildKit on, want 2", v)
				}
			}},
		{Name: "ping, HEAD", Method: "HEAD", Path: "/_ping", Status: http.StatusOK,
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if rec.Body.Len() != 0 {
					t.Errorf("HEAD body %q", rec.Body)
				}
			}},
		{Name: "ping below the oldest version", Version: "1.23", Path: "/_ping", Status: http.StatusBadRequest,
			Contains: []string{"client version 1.23 is too old. Minimum supported API version is " + backend.MinAPIVersion}},
		{Name: "version", Path: "/version", Status: http.StatusOK, Contains: []string{`"ApiVersion":"` + backend.DefaultAPIVersion + `"`}},
		{Name: "info", Path: "/info", Status: http.StatusOK, Contains: []string{`"ID":"engine-1"`}},
		{Name: "df: every type by default", Path: "/system/df", Status: http.StatusOK,
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if f.du != (backend.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true}) || strings.Contains(rec.Body.String(), "BuilderSize") {
					t.Errorf("options %+v, body %s", f.du, rec.Body)
				}
			}},
		{Name: "df: chosen types", Path: "/system/df", Query: "type=image&type=volume", Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if f.du != (backend.DiskUsageOptions{Images: true, Volumes: true}) {
					t.Errorf("options %+v", f.du)
				}
			}},
		{Name: "df: unknown type", Path: "/system/df", Query: "type=plugin", Status: http.StatusBadRequest, Contains: []string{"unknown object type: plugin"}},
		{Name: "df: BuilderSize before 1.42", Version: "1.41", Path: "/system/df", Status: http.StatusOK, Contains: []string{`"BuilderSize":11`}},
		{Name: "events: history only with since", Path: "/events", Status: http.StatusOK,
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if rec.Body.Len() != 0 {
					t.Errorf("events without since replayed the past: %s", rec.Body)
				}
			}},
		{Name: "events: since and filters", Path: "/events", Query: `since=1&filters={"type":{"container":true}}`, Status: http.StatusOK,
			Contains: []string{`"Action":"start"`},
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				subscribed(func(ef backend.EventFilter) bool {
					return ef.Since.Unix() == 1 && ef.Args.ExactMatch("type", "container")
				})(t, rec)
				if strings.Contains(rec.Body.String(), `"status"`) {
					t.Errorf("1.52+ events have the legacy fields: %s", rec.Body)
				}
			}},
		{Name: "events: legacy fields before 1.52", Version: "1.51", Path: "/events", Query: "since=1", Status: http.StatusOK,
			Contains: []string{`"status":"start"`, `"id":"c1"`, `"from":"busybox"`}},
		{Name: "events: until in the past ends the stream", Path: "/events", Query: "since=1&until=" + strconv.FormatInt(past, 10), Status: http.StatusOK,
			Check: subscribed(func(ef backend.EventFilter) bool { return ef.Until.Unix() == past })},
		{Name: "events: since after until", Path: "/events", Query: "since=20&until=10", Status: http.StatusBadRequest,
			Contains: []string{"`since` time (20) cannot be after `until` time (10)"}, Check: notSubscribed},
		{Name: "events: bad since", Path: "/events", Query: "since=yesterday", Status: http.StatusBadRequest, Check: notSubscribed},
		{Name: "events: unknown filter", Path: "/events", Query: `filters={"colour":{"red":true}}`, Status: http.StatusBadRequest,
			Contains: []string{"invalid filter 'colour'"}, Check: notSubscribed},
		{Name: "auth", Method: "POST", Path: "/auth", Body: `{"username":"u","password":"secret","serveraddress":"localhost:5000"}`, Status: http.StatusOK,
			Contains: []string{`"Status":"Login Succeeded"`, `"IdentityToken":"tok"`}},
		{Name: "auth refused", Method: "POST", Path: "/auth", Body: `{"username":"u","password":"no"}`, Status: http.StatusUnauthorized, Contains: []string{"login failed"}},
		{Name: "auth: not JSON", Method: "POST", Path: "/auth", Body: `{"username":`, Status: http.StatusBadRequest},
	})
}

func TestPingBuilderVersionFollowsBuildKit(t *testing.T) {
	f := &fakeBackend{classic: true}
	rec := servertest.Do(servertest.Handler(New(f)), "GET", "", "/_ping", "", nil)
	if v := rec.Header().Get("Builder-Version"); v != "1" {
		t.Errorf("Builder-Version %q with BuildKit off, want 1 (the classic builder)", v)
	}
}
