package system

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
	"github.com/berthd/berth/pkg/timestamp"
)

type systemRouter struct {
	backend Backend
}

// New returns the system router.
func New(b Backend) router.Router { return &systemRouter{backend: b} }

func (s *systemRouter) Routes() []router.Route {
	return []router.Route{
		router.Get("/_ping", s.ping),
		router.Head("/_ping", s.ping),
		router.Get("/version", s.version),
		router.Get("/info", s.info),
		router.Get("/events", s.events),
		router.Get("/system/df", s.diskUsage),
		router.Post("/auth", s.auth),
	}
}

func (s *systemRouter) ping(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	h := w.Header()
	h.Add("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Add("Pragma", "no-cache")
	// "2" makes the docker CLI build through buildx (when installed) and
	// BuildKit behind /grpc; "1" keeps it on the classic POST /build.
	h.Set("Builder-Version", s.backend.BuilderVersion())
	h.Set("Swarm", "inactive")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		return nil
	}
	_, err := w.Write([]byte("OK"))
	return err
}

func (s *systemRouter) version(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	return httputils.WriteJSON(w, http.StatusOK, s.backend.SystemVersion())
}

func (s *systemRouter) info(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	info, err := s.backend.SystemInfo(ctx)
	if err != nil {
		return err
	}
	out, err := infoForVersion(ctx, info)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, out)
}

func (s *systemRouter) diskUsage(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	var opts backend.DiskUsageOptions
	types := r.Form["type"]
	if len(types) == 0 {
		opts = backend.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true}
	}
	for _, t := range types {
		switch t {
		case "container":
			opts.Containers = true
		case "image":
			opts.Images = true
		case "volume":
			opts.Volumes = true
		case "build-cache":
			opts.BuildCache = true
		default:
			return errdefs.InvalidParameterf("unknown object type: %s", t)
		}
	}
	du, err := s.backend.SystemDiskUsage(ctx, opts)
	if err != nil {
		return err
	}
	if !httputils.VersionLessThan(ctx, "1.52") {
		return httputils.WriteJSON(w, http.StatusOK, diskUsageV152(du, httputils.BoolValue(r, "verbose")))
	}
	if httputils.VersionLessThan(ctx, "1.42") {
		// API 1.42 removed BuilderSize; before it dockerd sends the
		// build cache's total there.
		var size int64
		for _, b := range du.BuildCache {
			size += b.Size
		}
		return httputils.WriteJSON(w, http.StatusOK, struct {
			*backend.DiskUsage
			BuilderSize int64
		}{du, size})
	}
	return httputils.WriteJSON(w, http.StatusOK, du)
}

// diskUsageResponse is GET /system/df from API 1.52: a summary per
// requested type, with the lists of earlier versions beside them unless
// the client asked for verbose output (which says it knows 1.52), as
// dockerd does; with verbose, the lists move into the summaries' Items.
type diskUsageResponse struct {
	LayersSize int64                `json:"LayersSize,omitempty"`
	Images     []*image.Summary     `json:"Images,omitzero"`
	Containers []*container.Summary `json:"Containers,omitzero"`
	Volumes    []*volume.Volume     `json:"Volumes,omitzero"`
	BuildCache []*build.CacheRecord `json:"BuildCache,omitzero"`
	system.DiskUsage
}

func diskUsageV152(du *backend.DiskUsage, verbose bool) *diskUsageResponse {
	out := &diskUsageResponse{DiskUsage: system.DiskUsage{
		ImageUsage:      du.ImageUsage,
		ContainerUsage:  du.ContainerUsage,
		VolumeUsage:     du.VolumeUsage,
		BuildCacheUsage: du.BuildCacheUsage,
	}}
	if verbose {
		if u := out.ImageUsage; u != nil {
			c := *u
			c.Items = derefAll(du.Images)
			out.ImageUsage = &c
		}
		if u := out.ContainerUsage; u != nil {
			c := *u
			c.Items = derefAll(du.Containers)
			out.ContainerUsage = &c
		}
		if u := out.VolumeUsage; u != nil {
			c := *u
			c.Items = derefAll(du.Volumes)
			out.VolumeUsage = &c
		}
		if u := out.BuildCacheUsage; u != nil {
			c := *u
			c.Items = derefAll(du.BuildCache)
			out.BuildCacheUsage = &c
		}
		return out
	}
	// The lists, present (if empty) for each requested type.
	if du.ImageUsage != nil {
		out.LayersSize = du.LayersSize
		out.Images = nonNil(du.Images)
	}
	if du.ContainerUsage != nil {
		out.Containers = nonNil(du.Containers)
	}
	if du.VolumeUsage != nil {
		out.Volumes = nonNil(du.Volumes)
	}
	if du.BuildCacheUsage != nil {
		out.BuildCache = nonNil(du.BuildCache)
	}
	return out
}

func derefAll[T any](in []*T) []T {
	if len(in) == 0 {
		return nil
	}
	out := make([]T, len(in))
	for i, p := range in {
		out[i] = *p
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// legacyMessage adds the fields API versions before 1.52 carry for
// container and image events (status, id, from), in dockerd's order.
type legacyMessage struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

func withLegacyFields(m events.Message) legacyMessage {
	out := legacyMessage{Message: m}
	switch m.Type {
	case events.ContainerEventType:
		out.Status, out.ID, out.From = string(m.Action), m.Actor.ID, m.Actor.Attributes["image"]
	case events.ImageEventType:
		out.Status, out.ID = string(m.Action), m.Actor.ID
	}
	return out
}

// eventFilters are the filter names GET /events takes; the daemon's event
// bus matches on each of them.
var eventFilters = map[string]bool{
	"config": true, "container": true, "daemon": true, "event": true,
	"image": true, "label": true, "network": true, "node": true,
	"plugin": true, "scope": true, "secret": true, "service": true,
	"type": true, "volume": true,
}

func (s *systemRouter) events(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	since, err := timestamp.ParseTime(r.Form.Get("since"))
	if err != nil {
		return errdefs.InvalidParameter(err)
	}
	until, err := timestamp.ParseTime(r.Form.Get("until"))
	if err != nil {
		return errdefs.InvalidParameter(err)
	}
	if !since.IsZero() && !until.IsZero() && since.After(until) {
		return errdefs.InvalidParameterf("`since` time (%s) cannot be after `until` time (%s)", r.Form.Get("since"), r.Form.Get("until"))
	}
	args, err := filters.FromJSON(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	if err := args.Validate(eventFilters); err != nil {
		return err
	}

	past, live, cancel := s.backend.SubscribeToEvents(backend.EventFilter{Since: since, Until: until, Args: args})
	defer cancel()

	var deadline <-chan time.Time
	if !until.IsZero() {
		timer := time.NewTimer(time.Until(until))
		defer timer.Stop()
		deadline = timer.C
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	httputils.Flush(w)
	enc := json.NewEncoder(w)
	legacy := httputils.VersionLessThan(ctx, "1.52")
	write := func(m events.Message) error {
		var err error
		if legacy {
			err = enc.Encode(withLegacyFields(m))
		} else {
			err = enc.Encode(m)
		}
		httputils.Flush(w)
		return err
	}
	// dockerd replays its history only when the client asked for `since`.
	if !since.IsZero() {
		for _, m := range past {
			if err := write(m); err != nil {
				return nil
			}
		}
	}
	if !until.IsZero() && !until.After(time.Now()) {
		return nil
	}
	for {
		select {
		case m, ok := <-live:
			if !ok {
				return nil
			}
			if err := write(m); err != nil {
				return nil
			}
		case <-deadline:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *systemRouter) auth(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var cfg registry.AuthConfig
	if err := httputils.ReadJSON(r, &cfg); err != nil {
		return err
	}
	status, token, err := s.backend.AuthenticateToRegistry(ctx, &cfg)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, &registry.AuthResponse{Status: status, IdentityToken: token})
}
