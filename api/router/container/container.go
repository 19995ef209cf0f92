package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	platformpkg "github.com/berthd/berth/pkg/platform"
)

type containerRouter struct {
	backend Backend
}

// New returns the container router.
func New(b Backend) router.Router { return &containerRouter{backend: b} }

func (r *containerRouter) Routes() []router.Route {
	return []router.Route{
		router.Get("/containers/json", r.list),
		router.Get("/containers/{name:.*}/json", r.inspect),
		router.Get("/containers/{name:.*}/logs", r.logs),
		router.Get("/containers/{name:.*}/top", r.top),
		router.Get("/containers/{name:.*}/stats", r.stats),
		router.Get("/containers/{name:.*}/changes", r.changes),
		router.Post("/containers/create", r.create),
		router.Post("/containers/prune", r.prune),
		router.Post("/containers/{name:.*}/rename", r.rename),
		router.Post("/containers/{name:.*}/start", r.start),
		router.Post("/containers/{name:.*}/stop", stopLike(r.backend.ContainerStop)),
		router.Post("/containers/{name:.*}/restart", stopLike(r.backend.ContainerRestart)),
		router.Post("/containers/{name:.*}/kill", r.kill),
		router.Post("/containers/{name:.*}/pause", r.pause),
		router.Post("/containers/{name:.*}/unpause", r.unpause),
		router.Post("/containers/{name:.*}/resize", r.resize),
		router.Post("/containers/{name:.*}/update", r.update),
		router.Post("/containers/{name:.*}/attach", r.attach),
		router.Get("/containers/{name:.*}/attach/ws", r.attachWebsocket),
		router.Post("/containers/{name:.*}/exec", r.execCreate),
		router.Post("/exec/{id:.*}/start", r.execStart),
		router.Get("/exec/{id:.*}/json", r.execInspect),
		router.Post("/exec/{id:.*}/resize", r.execResize),
		router.Post("/containers/{name:.*}/wait", r.wait),
		router.Delete("/containers/{name:.*}", r.remove),
		router.Head("/containers/{name:.*}/archive", r.headArchive),
		router.Get("/containers/{name:.*}/archive", r.getArchive),
		router.Put("/containers/{name:.*}/archive", r.putArchive),
		router.Get("/containers/{name:.*}/export", r.export),
		router.Post("/commit", r.commit),
	}
}

func (r *containerRouter) list(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	limit, err := httputils.Int64ValueOrDefault(req, "limit", 0)
	if err != nil {
		return err
	}
	list, err := r.backend.Containers(ctx, backend.ContainerListOptions{
		All:     httputils.BoolValue(req, "all"),
		Limit:   int(limit),
		Size:    httputils.BoolValue(req, "size"),
		Filters: req.Form.Get("filters"),
	})
	if err != nil {
		return err
	}
	summariesForVersion(ctx, list)
	body, err := encodeSummaries(list)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}

func (r *containerRouter) inspect(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	resp, err := r.backend.ContainerInspect(ctx, vars["name"], httputils.BoolValue(req, "size"))
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, withConfiguredMAC(ctx, r.backend, vars["name"], resp, inspectForVersion(ctx, resp)))
}

func (r *containerRouter) create(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	if err := httputils.CheckForJSON(req); err != nil {
		return err
	}
	// dockerd decodes the create body strictly: no body at all is
	// malformed JSON, not an empty config.
	if req.ContentLength == 0 || req.Body == nil {
		return errdefs.InvalidParameterf("invalid JSON: EOF")
	}
	if req.ContentLength < 0 {
		br := bufio.NewReader(req.Body)
		if _, err := br.Peek(1); errors.Is(err, io.EOF) {
			return errdefs.InvalidParameterf("invalid JSON: EOF")
		}
		req.Body = struct {
			io.Reader
			io.Closer
		}{br, req.Body}
	}
	var body container.CreateRequest
	// Before API 1.52 the body may carry a container-wide MacAddress,
	// which CreateRequest no longer has: keep the raw body to read it.
	var raw *bytes.Buffer
	if httputils.VersionLessThan(ctx, "1.52") && req.Body != nil {
		raw = &bytes.Buffer{}
		req.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(req.Body, raw), req.Body}
	}
	if err := httputils.ReadJSON(req, &body); err != nil {
		return err
	}
	if body.Config == nil {
		return errdefs.InvalidParameterf("config cannot be empty in order to create a container")
	}
	if err := createForVersion(ctx, &body); err != nil {
		return err
	}
	var macWarning string
	if raw != nil {
		w, err := migrateLegacyMAC(ctx, &body, legacyMAC(raw.Bytes()))
		if err != nil {
			return err
		}
		macWarning = w
	}
	// No limit, or "unlimited" said as 0, -1 or any negative value.
	if hc := body.HostConfig; hc.PidsLimit != nil && *hc.PidsLimit <= 0 {
		hc.PidsLimit = nil
	}
	platform := req.Form.Get("platform")
	if httputils.VersionLessThan(ctx, "1.41") {
		platform = ""
	}
	if err := platformpkg.Check(platform); err != nil {
		return err
	}
	resp, err := r.backend.ContainerCreate(ctx, backend.ContainerCreateConfig{
		Name:             req.Form.Get("name"),
		Platform:         platform,
		Config:           body.Config,
		HostConfig:       body.HostConfig,
		NetworkingConfig: body.NetworkingConfig,
	})
	if err != nil {
		return err
	}
	if macWarning != "" {
		resp.Warnings = append(resp.Warnings, macWarning)
	}
	return httputils.WriteJSON(w, http.StatusCreated, resp)
}

func (r *containerRouter) remove(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	err := r.backend.ContainerRm(ctx, vars["name"], backend.ContainerRmConfig{
		ForceRemove:  httputils.BoolValue(req, "force"),
		RemoveVolume: httputils.BoolValue(req, "v"),
		RemoveLink:   httputils.BoolValue(req, "link"),
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (r *containerRouter) rename(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	if err := r.backend.ContainerRename(vars["name"], req.Form.Get("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// wait sends its headers as soon as the wait is registered (dockerd does
// the same from API 1.30), so a client can start the container after the
// headers arrive and still see its exit.
func (r *containerRouter) wait(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	cond := container.WaitCondition(req.Form.Get("condition"))
	started := false
	resp, err := r.backend.ContainerWait(ctx, vars["name"], cond, func() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		httputils.Flush(w)
		started = true
	})
	if err != nil {
		return err
	}
	if !started {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	}
	return json.NewEncoder(w).Encode(resp)
}

func (r *containerRouter) prune(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	report, err := r.backend.ContainersPrune(ctx, req.Form.Get("filters"))
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, report)
}

// logs streams the log. Headers go out only once the daemon accepted the
// request, so errors (no such container, unreadable driver) are still JSON.
func (r *containerRouter) logs(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(req); err != nil {
		return err
	}
	o := backend.ContainerLogsOptions{
		ShowStdout: httputils.BoolValue(req, "stdout"),
		ShowStderr: httputils.BoolValue(req, "stderr"),
		Since:      req.Form.Get("since"),
		Until:      req.Form.Get("until"),
		Timestamps: httputils.BoolValue(req, "timestamps"),
		Follow:     httputils.BoolValue(req, "follow"),
		Tail:       req.Form.Get("tail"),
		Details:    httputils.BoolValue(req, "details"),
	}
	return r.backend.ContainerLogs(ctx, vars["name"], o, func(tty bool) io.Writer {
		ct := "application/vnd.docker.multiplexed-stream"
		if tty {
			ct = "application/vnd.docker.raw-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		httputils.Flush(w)
		return w
	})
}

// summariesForVersion drops what the request's API version predates:
// HostConfig.Annotations (1.46) and the health summary (1.52).
func summariesForVersion(ctx context.Context, list []*container.Summary) {
	oldAnnotations, oldHealth := httputils.VersionLessThan(ctx, "1.46"), httputils.VersionLessThan(ctx, "1.52")
	for _, s := range list {
		if s == nil {
			continue
		}
		if oldAnnotations {
			s.HostConfig.Annotations = nil
		}
		if oldHealth {
			s.Health = nil
		}
	}
}
