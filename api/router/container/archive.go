package container

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/pkg/errdefs"
)

// FSBackend serves the container filesystem routes: docker cp (archive)
// and docker export. Backend embeds it.
type FSBackend interface {
	ContainerStatPath(ctx context.Context, ref, path string) (*container.PathStat, error)
	ContainerArchivePath(ctx context.Context, ref, path string) (io.ReadCloser, *container.PathStat, error)
	ContainerExtractToDir(ctx context.Context, ref, path string, copyUIDGID, noOverwriteDirNonDir bool, content io.Reader) error
	ContainerExport(ctx context.Context, ref string, out io.Writer) error
}

// archiveParams reads the name and path of the archive routes with
// dockerd's messages (its missing space included: clients match it).
func archiveParams(req *http.Request, vars map[string]string) (name, path string, err error) {
	if err := httputils.ParseForm(req); err != nil {
		return "", "", err
	}
	if name = vars["name"]; name == "" {
		return "", "", errdefs.InvalidParameterf("bad parameter: namecannot be empty")
	}
	if path = req.Form.Get("path"); path == "" {
		return "", "", errdefs.InvalidParameterf("bad parameter: pathcannot be empty")
	}
	return name, path, nil
}

// setPathStat puts the stat in the header the docker CLI reads.
func setPathStat(h http.Header, st *container.PathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	h.Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
	return nil
}

func (r *containerRouter) headArchive(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	b := r.backend
	name, path, err := archiveParams(req, vars)
	if err != nil {
		return err
	}
	st, err := b.ContainerStatPath(ctx, name, path)
	if err != nil {
		return err
	}
	if err := setPathStat(w.Header(), st); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (r *containerRouter) getArchive(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	b := r.backend
	name, path, err := archiveParams(req, vars)
	if err != nil {
		return err
	}
	rc, st, err := b.ContainerArchivePath(ctx, name, path)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := setPathStat(w.Header(), st); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	out := io.Writer(w)
	switch negotiateEncoding(req.Header.Get("Accept-Encoding")) {
	case "gzip":
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		out = gz
	case "deflate":
		w.Header().Set("Content-Encoding", "deflate")
		fw, _ := flate.NewWriter(w, flate.DefaultCompression)
		defer fw.Close()
		out = fw
	}
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(out, rc)
	return err
}

// negotiateEncoding picks gzip or deflate when the client accepts one
// with a non-zero quality, as dockerd does; "" means identity.
func negotiateEncoding(accept string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(accept, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v == "0" || strings.HasPrefix(v, "0.0") && strings.Trim(v, "0.") == "" {
				q = 0
			} else if strings.HasPrefix(v, "0.") {
				q = 0.5
			}
		}
		enc = strings.ToLower(strings.TrimSpace(enc))
		if (enc == "gzip" || enc == "deflate") && q > bestQ {
			best, bestQ = enc, q
		}
	}
	return best
}

func (r *containerRouter) putArchive(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	b := r.backend
	name, path, err := archiveParams(req, vars)
	if err != nil {
		return err
	}
	err = b.ContainerExtractToDir(ctx, name, path,
		httputils.BoolValue(req, "copyUIDGID"), httputils.BoolValue(req, "noOverwriteDirNonDir"), req.Body)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (r *containerRouter) export(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	b := r.backend
	return b.ContainerExport(ctx, vars["name"], &lazyHeader{w: w})
}

// lazyHeader sends the 200 and the tar content type with the first
// byte, so that an error before any output still gets its status.
type lazyHeader struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyHeader) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "application/x-tar")
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}
