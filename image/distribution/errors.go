package distribution

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/berthd/berth/pkg/errdefs"
)

// Error codes of the distribution spec that berth treats specially.
const (
	codeManifestUnknown = "MANIFEST_UNKNOWN"
	codeNameUnknown     = "NAME_UNKNOWN"
	codeBlobUnknown     = "BLOB_UNKNOWN"
	codeUnauthorized    = "UNAUTHORIZED"
	codeDenied          = "DENIED"
)

// registryError is one entry of the spec's {"errors": [...]} body.
type registryError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// Error renders the entry the way dockerd's errcode package does:
// "manifest unknown: manifest unknown".
func (e registryError) Error() string {
	return strings.ToLower(strings.ReplaceAll(e.Code, "_", " ")) + ": " + e.Message
}

// httpError is a registry's answer with a status berth did not want.
type httpError struct {
	Method, URL string
	Status      int
	Errors      []registryError
}

func (e *httpError) Error() string {
	if len(e.Errors) > 0 {
		parts := make([]string, len(e.Errors))
		for i, re := range e.Errors {
			parts[i] = re.Error()
		}
		return strings.Join(parts, ", ")
	}
	switch e.Status {
	case http.StatusUnauthorized:
		return "unauthorized: authentication required"
	case http.StatusForbidden:
		return "denied: requested access to the resource is denied"
	}
	return fmt.Sprintf("%s %q: unexpected status %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
}

func (e *httpError) has(code string) bool {
	for _, re := range e.Errors {
		if re.Code == code {
			return true
		}
	}
	return false
}

// readError turns a response berth did not expect into an httpError and
// closes its body.
func readError(resp *http.Response) error {
	defer resp.Body.Close()
	e := &httpError{Method: resp.Request.Method, URL: resp.Request.URL.Redacted(), Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Errors []registryError `json:"errors"`
	}
	if json.Unmarshal(b, &body) == nil {
		e.Errors = body.Errors
	}
	return classify(e)
}

// classify gives a registry error the class its HTTP status maps to in
// berth's API.
func classify(e *httpError) error {
	switch {
	case e.Status == http.StatusUnauthorized || e.has(codeUnauthorized):
		return errdefs.Unauthorized(e)
	case e.Status == http.StatusForbidden || e.has(codeDenied):
		return errdefs.Forbidden(e)
	case e.Status == http.StatusNotFound:
		return errdefs.NotFound(e)
	case e.Status >= 500:
		return errdefs.Unavailable(e)
	}
	return errdefs.System(e)
}

func asHTTPError(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	return nil
}

// unreachable marks errors that mean "this endpoint does not answer", after
// which the next endpoint (a mirror's fallback, plain http) is tried.
type unreachable struct{ error }

func (u unreachable) Unwrap() error { return u.error }
func (unreachable) Unavailable()    {}

// DigestMismatchError is a blob or manifest whose content does not match
// its digest. Nothing is stored for it.
type DigestMismatchError struct {
	What     string
	Expected string
	Got      string
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("%s digest mismatch: expected %s, got %s", e.What, e.Expected, e.Got)
}

// InvalidParameter: content the registry served is bad, not berth.
func (e *DigestMismatchError) InvalidParameter() {}
