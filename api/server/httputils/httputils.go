package httputils

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errhttp"
	"github.com/moby/moby/api/types/common"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/versions"
)

type apiVersionKey struct{}

// WithVersion stores the negotiated API version in ctx.
func WithVersion(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, apiVersionKey{}, v)
}

// VersionFromContext returns the negotiated API version ("" outside a request).
func VersionFromContext(ctx context.Context) string {
	v, _ := ctx.Value(apiVersionKey{}).(string)
	return v
}

// VersionLessThan reports whether the request's API version is older than v.
func VersionLessThan(ctx context.Context, v string) bool {
	return versions.LessThan(VersionFromContext(ctx), v)
}

// MaxJSONBody bounds a JSON request body. Bodies that are streams (image
// load, build context, archive upload) are not read through ReadJSON.
const MaxJSONBody = 16 << 20

// CheckForJSON refuses a body whose Content-Type is set and is not JSON.
func CheckForJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" || r.ContentLength == 0 && r.Body == http.NoBody {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		return nil
	}
	return errdefs.InvalidParameterf("unsupported Content-Type header (%s): must be 'application/json'", ct)
}

// ReadJSON decodes the request body into out. An empty body leaves out
// unchanged. Malformed JSON, trailing content and oversized bodies are
// client errors with the messages dockerd gives.
func ReadJSON(r *http.Request, out any) error {
	if err := CheckForJSON(r); err != nil {
		return err
	}
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	body := http.MaxBytesReader(nil, r.Body, MaxJSONBody)
	defer body.Close()
	dec := json.NewDecoder(body)
	if err := dec.Decode(out); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			if r.ContentLength < 0 {
				// Chunked request with no body at all: same as empty.
				return nil
			}
			return errdefs.InvalidParameterf("invalid JSON: got EOF while reading request body")
		case errors.As(err, &tooBig):
			return errdefs.InvalidParameterf("request body too large: limit is %d bytes", MaxJSONBody)
		}
		return errdefs.InvalidParameterf("invalid JSON: %v", err)
	}
	// dec.More alone misses a stray closing bracket ("{}}"): it reports
	// only whether another element follows inside a value.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errdefs.InvalidParameterf("unexpected content after JSON")
	}
	return nil
}

// WriteJSON writes v as JSON with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// StatusFor is the one place an error's class becomes an HTTP status.
func StatusFor(err error) int {
	var maxBytes *http.MaxBytesError
	if errors.As(err, &maxBytes) {
		return http.StatusBadRequest
	}
	if errors.Is(err, context.Canceled) {
		// The client went away; the status is never seen.
		return 499
	}
	// The outermost classified error decides, as in dockerd: an
	// invalid-parameter error that wraps a not-found one (a bad reference
	// to a missing image) is the client's mistake, a 400, where a plain
	// search of the chain would find the not-found and answer 404.
	return errhttp.ToHTTP(cerrdefs.Resolve(err))
}

// WriteError writes err as {"message": "..."} with its mapped status.
func WriteError(w http.ResponseWriter, err error) {
	code := StatusFor(err)
	if code >= 500 {
		logrus.WithError(err).WithField("status", code).Error("handler error")
	}
	msg := err.Error()
	if msg == "" {
		msg = http.StatusText(code)
	}
	_ = WriteJSON(w, code, &common.ErrorResponse{Message: msg})
}

// ParseForm parses query and form values, turning a parse error into a 400.
func ParseForm(r *http.Request) error {
	if r == nil {
		return nil
	}
	if err := r.ParseForm(); err != nil && !strings.HasPrefix(err.Error(), "mime:") {
		return errdefs.InvalidParameter(err)
	}
	return nil
}

// BoolValue reads a form boolean the way dockerd does: absent, "", "0",
// "no", "false" and "none" are false; anything else is true.
func BoolValue(r *http.Request, k string) bool {
	s := strings.ToLower(strings.TrimSpace(r.FormValue(k)))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

// BoolValueOrDefault is BoolValue with a default when the key is absent.
func BoolValueOrDefault(r *http.Request, k string, d bool) bool {
	if _, ok := r.Form[k]; !ok {
		return d
	}
	return BoolValue(r, k)
}

// Int64ValueOrZero reads an integer form value; absent or invalid is 0.
func Int64ValueOrZero(r *http.Request, k string) int64 {
	v, err := Int64ValueOrDefault(r, k, 0)
	if err != nil {
		return 0
	}
	return v
}

// Int64ValueOrDefault reads an integer form value; invalid is a 400.
func Int64ValueOrDefault(r *http.Request, k string, d int64) (int64, error) {
	s := r.FormValue(k)
	if s == "" {
		return d, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return d, errdefs.InvalidParameterf("invalid value for %s: %q: %v", k, s, errors.Unwrap(err))
	}
	return v, nil
}

// Uint32Value reads a required unsigned 32-bit form value, with the bare
// strconv error dockerd reports: "invalid syntax" for empty or non-numeric
// values, "value out of range" for negative or too large ones.
func Uint32Value(r *http.Request, k string) (uint32, error) {
	v, neg := strings.CutPrefix(r.Form.Get(k), "-")
	if v == "" || v[0] == '+' {
		return 0, strconv.ErrSyntax
	}
	i, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, errors.Unwrap(err)
	}
	if neg {
		return 0, strconv.ErrRange
	}
	return uint32(i), nil
}

// Flush pushes buffered bytes of a streaming response to the client.
func Flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// NotFoundRoute is the error for a path no router serves.
var NotFoundRoute = errdefs.NotFound(errors.New("page not found"))
