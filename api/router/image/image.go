package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

type imageRouter struct {
	backend Backend
}

// New returns the image router.
func New(b Backend) router.Router { return &imageRouter{backend: b} }

func (ir *imageRouter) Routes() []router.Route {
	return []router.Route{
		router.Get("/images/json", ir.list),
		router.Get("/images/search", ir.search),
		router.Get("/images/get", ir.getMany),
		router.Get("/images/{name:.*}/get", ir.getOne),
		router.Get("/images/{name:.*}/history", ir.history),
		router.Get("/images/{name:.*}/json", ir.inspect),
		router.Post("/images/load", ir.load),
		router.Post("/images/create", ir.create),
		router.Post("/images/prune", ir.prune),
		router.Post("/images/{name:.*}/tag", ir.tag),
		router.Post("/images/{name:.*}/push", ir.push),
		router.Get("/distribution/{name:.*}/json", ir.distributionInspect),
		router.Delete("/images/{name:.*}", ir.remove),
	}
}

func (ir *imageRouter) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	f, err := filters.FromJSON(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	// API < 1.41 also took ?filter=<reference>.
	if v := r.Form.Get("filter"); v != "" && httputils.VersionLessThan(ctx, "1.41") {
		f.Add("reference", v)
	}
	// shared-size arrived in 1.42, manifests in 1.47, identity in 1.54.
	manifests := !httputils.VersionLessThan(ctx, "1.47") && httputils.BoolValue(r, "manifests")
	if !httputils.VersionLessThan(ctx, "1.54") && httputils.BoolValue(r, "identity") && !manifests {
		return errdefs.InvalidParameterf("conflicting options: identity requires manifests=1")
	}
	imgs, err := ir.backend.Images(ctx, backend.ImageListOptions{
		All:            httputils.BoolValue(r, "all"),
		SharedSize:     !httputils.VersionLessThan(ctx, "1.42") && httputils.BoolValue(r, "shared-size"),
		ContainerCount: !httputils.VersionLessThan(ctx, "1.51"),
		Filters:        f,
	})
	if err != nil {
		return err
	}
	useNone := httputils.VersionLessThan(ctx, "1.43")
	for _, img := range imgs {
		if useNone && len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 {
			img.RepoTags = []string{"<none>:<none>"}
			img.RepoDigests = []string{"<none>@<none>"}
		}
	}
	if imgs == nil {
		return httputils.WriteJSON(w, http.StatusOK, []struct{}{})
	}
	return httputils.WriteJSON(w, http.StatusOK, imgs)
}

func (ir *imageRouter) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	var opts backend.ImageInspectOptions
	if r.Form.Get("platform") != "" && !httputils.VersionLessThan(ctx, "1.49") {
		p, err := decodePlatform(r.Form.Get("platform"))
		if err != nil {
			return err
		}
		opts.Platform = p
		if httputils.BoolValue(r, "manifests") && !httputils.VersionLessThan(ctx, "1.48") {
			return errdefs.InvalidParameterf("conflicting options: manifests and platform options cannot both be set")
		}
	}
	resp, err := ir.backend.ImageInspect(ctx, vars["name"], opts)
	if err != nil {
		return err
	}
	shaped, err := inspectForVersion(ctx, resp)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, shaped)
}

func (ir *imageRouter) history(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	h, err := ir.backend.ImageHistory(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, h)
}

func (ir *imageRouter) tag(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	if err := ir.backend.TagImage(ctx, vars["name"], r.Form.Get("repo"), r.Form.Get("tag")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (ir *imageRouter) remove(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	name := vars["name"]
	if name == "" {
		return errdefs.InvalidParameterf("image name cannot be blank")
	}
	recs, err := ir.backend.ImageDelete(ctx, name, httputils.BoolValue(r, "force"), !httputils.BoolValue(r, "noprune"))
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, recs)
}

func (ir *imageRouter) prune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	f, err := filters.FromJSON(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	rep, err := ir.backend.ImagesPrune(ctx, f)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, rep)
}

// writeStream writes progress lines as the JSON message stream the CLI
// renders.
func writeStream(w http.ResponseWriter, msgs []jsonstream.Message) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, m := range msgs {
		if err := enc.Encode(m); err != nil {
			return nil
		}
	}
	httputils.Flush(w)
	return nil
}

// loadMessage is a message of the load stream. dockerd still sends the
// rendered "progress" bar and the plain "error" beside progressDetail and
// errorDetail, which older clients read; the API types no longer carry
// those two fields.
type loadMessage struct {
	jsonstream.Message
	ProgressMessage string `json:"progress,omitempty"`
	ErrorMessage    string `json:"error,omitempty"`
}

// loadStream writes the JSON message stream of POST /images/load. The
// status line goes out with the first message, so that an archive
// rejected before anything was reported still gets its 4xx status.
type loadStream struct {
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
	broken  bool
}

func (s *loadStream) send(m loadMessage) {
	if s.broken {
		return
	}
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
		s.enc = json.NewEncoder(s.w)
		s.enc.SetEscapeHTML(false)
	}
	if err := s.enc.Encode(m); err != nil {
		// The client is gone; the load goes on to a consistent end.
		s.broken = true
		return
	}
	httputils.Flush(s.w)
}

// progressBar renders a progress the way dockerd does for a client that
// is not a terminal (200 columns, no time estimate).
func progressBar(current, total int64) string {
	if current <= 0 && total <= 0 {
		return ""
	}
	if total <= 0 {
		return fmt.Sprintf("%8v", units.HumanSize(float64(current)))
	}
	pct := int(float64(current)/float64(total)*100) / 2
	if pct > 50 {
		pct = 50
	}
	bar := "[" + strings.Repeat("=", pct) + ">" + strings.Repeat(" ", 50-pct) + "] "
	numbers := fmt.Sprintf("%8v/%v", units.HumanSize(float64(current)), units.HumanSize(float64(total)))
	if current > total {
		numbers = fmt.Sprintf("%8v", units.HumanSize(float64(current)))
	}
	return bar + numbers
}

func (ir *imageRouter) load(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	s := &loadStream{w: w}
	out := backend.LoadOutput{
		Progress: func(id string, current, total int64) {
			s.send(loadMessage{
				Message:         jsonstream.Message{Status: "Loading layer", ID: id, Progress: &jsonstream.Progress{Current: current, Total: total}},
				ProgressMessage: progressBar(current, total),
			})
		},
		Line: func(line string) { s.send(loadMessage{Message: jsonstream.Message{Stream: line + "\n"}}) },
	}
	err := ir.backend.LoadImage(ctx, r.Body, httputils.BoolValueOrDefault(r, "quiet", true), out)
	if err == nil && !s.started {
		// An archive without images: an empty 200 stream, as dockerd.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if err != nil {
		if !s.started {
			return err
		}
		s.send(loadMessage{Message: jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}}, ErrorMessage: err.Error()})
	}
	return nil
}

func (ir *imageRouter) export(ctx context.Context, w http.ResponseWriter, names []string) error {
	write, err := ir.backend.PrepareExport(ctx, names)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	// Headers are gone: an error now can only cut the stream short, which
	// the client sees as a truncated archive.
	_ = write(w)
	return nil
}

func (ir *imageRouter) getOne(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	return ir.export(ctx, w, []string{vars["name"]})
}

func (ir *imageRouter) getMany(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	names := r.Form["names"]
	if len(names) == 0 {
		return errdefs.InvalidParameterf("no image names given")
	}
	return ir.export(ctx, w, names)
}

func (ir *imageRouter) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	src := r.Form.Get("fromSrc")
	if src == "" {
		if r.Form.Get("fromImage") != "" {
			return ir.pull(ctx, w, r)
		}
		return errdefs.InvalidParameterf("either fromSrc or fromImage is required")
	}
	body := io.Reader(r.Body)
	var msgs []jsonstream.Message
	if src != "-" {
		ub, ok := ir.backend.(URLImportBackend)
		if !ok {
			return errdefs.NotImplemented(errNoURLImport)
		}
		rc, u, err := ub.OpenImportURL(ctx, src)
		if err != nil {
			return err
		}
		defer rc.Close()
		body = rc
		msgs = append(msgs, jsonstream.Message{Status: "Downloading from " + u})
	}
	id, err := ir.backend.ImportImage(ctx, body, backend.ImageImportOptions{
		Repo:     r.Form.Get("repo"),
		Tag:      r.Form.Get("tag"),
		Message:  r.Form.Get("message"),
		Changes:  r.Form["changes"],
		Platform: r.Form.Get("platform"),
	})
	if err != nil {
		return err
	}
	return writeStream(w, append(msgs, jsonstream.Message{Status: id}))
}

// URLImportBackend fetches the tarball of an import from a URL
// (fromSrc=URL); the caller closes it.
type URLImportBackend interface {
	OpenImportURL(ctx context.Context, src string) (io.ReadCloser, string, error)
}

// decodePlatform reads a platform query parameter given as OCI platform
// JSON, with dockerd's checks and messages.
func decodePlatform(s string) (*ocispec.Platform, error) {
	var p ocispec.Platform
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, errdefs.InvalidParameterf("failed to parse platform: %v", err)
	}
	optional := p.Variant != "" || p.OSVersion != "" || len(p.OSFeatures) > 0
	if p.OS == "" && p.Architecture == "" && optional {
		return nil, errdefs.InvalidParameterf("optional platform fields provided, but OS and Architecture are missing")
	}
	if p.OS == "" || p.Architecture == "" {
		return nil, errdefs.InvalidParameterf("both OS and Architecture must be provided")
	}
	return &p, nil
}
