package distribution

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/registryauth"
)

// maxManifestSize bounds what berth reads as a manifest or config.
const maxManifestSize = 8 << 20

// defaultAttempts is how many times an idempotent request is tried, and a
// dropped blob download resumed, unless Config.MaxDownloadAttempts says.
const defaultAttempts = 5

// repository is one repository on one endpoint, with its credentials.
type repository struct {
	ep        *endpoint
	name      string // path in the registry, e.g. library/busybox
	creds     Auth
	push      bool
	userAgent string
	// attempts is Config.MaxDownloadAttempts when the repository was
	// opened (0: defaultAttempts).
	attempts int

	mu        sync.Mutex
	scheme    string // "basic", "bearer" or "" (no auth asked for)
	challenge map[string]string
	tokens    map[string]string // scope list → bearer token
}

// tries is how many times an idempotent request is tried.
func (r *repository) tries() int {
	if r.attempts > 0 {
		return r.attempts
	}
	return defaultAttempts
}

func (r *repository) url(path string) string {
	u := *r.ep.base
	u.Path = r.ep.apiRoot() + "/" + r.name + path
	return u.String()
}

// ping checks that the endpoint is a registry and learns how it wants
// to be authenticated.
func (r *repository) ping(ctx context.Context) error {
	u := *r.ep.base
	u.Path = r.ep.apiRoot() + "/"
	var lastErr error
	for i := 0; i < 2; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		r.ep.setHeader(req)
		req.Header.Set("User-Agent", r.userAgent)
		resp, err := r.ep.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			lastErr = unreachable{err}
			if !retryable(err) {
				return lastErr
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode == http.StatusUnauthorized:
			if !registryauth.SameOrigin(resp.Request.URL, r.ep.base) {
				// A redirect took /v2/ to another origin (another host,
				// or https to http): its challenge is not the
				// registry's, and the realm it names would be judged
				// against the wrong host. As dockerd, whose challenges
				// are kept per origin, it is ignored: requests go
				// without credentials.
				return nil
			}
			scheme, params := registryauth.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
			r.mu.Lock()
			r.scheme, r.challenge = strings.ToLower(scheme), params
			r.mu.Unlock()
			return nil
		case resp.StatusCode >= 500:
			lastErr = unreachable{fmt.Errorf("Get %q: %d %s", u.String(), resp.StatusCode, http.StatusText(resp.StatusCode))}
			time.Sleep(200 * time.Millisecond)
		default:
			return unreachable{fmt.Errorf("Get %q: %d %s: not a registry endpoint", u.String(), resp.StatusCode, http.StatusText(resp.StatusCode))}
		}
	}
	return lastErr
}

// authScheme is what the ping learned: "basic", "bearer" or "".
func (r *repository) authScheme() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.scheme
}

// scopes are the token scopes a request needs; mountFrom adds pull on the
// repository a blob is mounted from.
func (r *repository) scopes(mountFrom string) []string {
	actions := "pull"
	if r.push {
		actions = "pull,push"
	}
	s := []string{"repository:" + r.name + ":" + actions}
	if mountFrom != "" && mountFrom != r.name {
		s = append(s, "repository:"+mountFrom+":pull")
	}
	return s
}

// authorize adds credentials to req. refresh forces a new bearer token
// (the registry refused the cached one). A request to another origin
// than the endpoint's (a Link to the next page of tags, an upload
// Location on a storage host) gets none: they are the registry's.
func (r *repository) authorize(ctx context.Context, req *http.Request, mountFrom string, refresh bool) error {
	if !registryauth.SameOrigin(req.URL, r.ep.base) {
		return nil
	}
	r.mu.Lock()
	scheme, params := r.scheme, r.challenge
	r.mu.Unlock()
	switch scheme {
	case "basic":
		if r.creds.Username != "" || r.creds.Password != "" {
			req.SetBasicAuth(r.creds.Username, r.creds.Password)
		}
	case "bearer":
		scopes := r.scopes(mountFrom)
		key := strings.Join(scopes, " ")
		r.mu.Lock()
		tok, ok := r.tokens[key]
		r.mu.Unlock()
		if !ok || refresh {
			if r.creds.RegistryToken != "" {
				tok = r.creds.RegistryToken
			} else {
				t, err := registryauth.FetchToken(ctx, r.ep.client, r.ep.base, params, r.creds.Credentials, scopes)
				if err != nil {
					if registryauth.IsDenied(err) {
						return errdefs.Unauthorized(err)
					}
					return err
				}
				tok = t.Bearer()
			}
			r.mu.Lock()
			if r.tokens == nil {
				r.tokens = map[string]string{}
			}
			r.tokens[key] = tok
			r.mu.Unlock()
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	return nil
}

// retryable reports whether a transport error is worth another try: a
// dropped or refused connection, a reset, a timeout.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

func backoff(ctx context.Context, try int) error {
	d := time.Duration(100<<try) * time.Millisecond
	if d > 3*time.Second {
		d = 3 * time.Second
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// request describes one registry call. body, when set, is called for each
// try, so only replayable bodies are retried.
type request struct {
	method    string
	url       string
	header    http.Header
	body      func() (io.Reader, int64, error)
	mountFrom string
	// retry says the call is idempotent.
	retry bool
}

// do runs a request with auth, retries on transport errors and 5xx
// answers (idempotent calls only), and one re-authentication on 401.
// The caller checks the status of what it gets.
func (r *repository) do(ctx context.Context, rq request) (*http.Response, error) {
	refreshed := false
	for try := 0; ; try++ {
		var body io.Reader
		length := int64(-1)
		if rq.body != nil {
			b, n, err := rq.body()
			if err != nil {
				return nil, err
			}
			body, length = b, n
		}
		req, err := http.NewRequestWithContext(ctx, rq.method, rq.url, body)
		if err != nil {
			return nil, err
		}
		if length >= 0 {
			req.ContentLength = length
			if length == 0 {
				req.Body = http.NoBody
			}
		}
		r.ep.setHeader(req)
		for k, v := range rq.header {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", r.userAgent)
		if err := r.authorize(ctx, req, rq.mountFrom, refreshed); err != nil {
			return nil, err
		}
		resp, err := registryauth.KeepCredentialsHome(r.ep.client).Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if rq.retry && try < r.tries()-1 && retryable(err) {
				if err := backoff(ctx, try); err != nil {
					return nil, err
				}
				continue
			}
			return nil, errdefs.Unavailable(err)
		}
		if resp.StatusCode == http.StatusUnauthorized && !refreshed && r.authScheme() == "bearer" && (rq.body == nil || rq.retry) {
			// A token for other scopes, or one that expired.
			resp.Body.Close()
			refreshed = true
			continue
		}
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented && rq.retry && try < r.tries()-1 {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if err := backoff(ctx, try); err != nil {
				return nil, err
			}
			continue
		}
		return resp, nil
	}
}

// getManifest fetches a manifest by tag or digest and verifies it: by
// digest against that digest, by tag against the Docker-Content-Digest
// the registry reports (when it reports one).
func (r *repository) getManifest(ctx context.Context, ref string) ([]byte, string, digest.Digest, error) {
	resp, err := r.do(ctx, request{
		method: http.MethodGet, url: r.url("/manifests/" + ref), retry: true,
		header: http.Header{"Accept": {strings.Join(manifestMediaTypes, ", ")}},
	})
	if err != nil {
		return nil, "", "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", "", readError(resp)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, "", "", errdefs.Unavailable(err)
	}
	if len(b) > maxManifestSize {
		return nil, "", "", errdefs.InvalidParameterf("manifest %s is larger than %d bytes", ref, maxManifestSize)
	}
	got := digest.FromBytes(b)
	if want, err := digest.Parse(ref); err == nil {
		if got != want {
			return nil, "", "", &DigestMismatchError{What: "manifest", Expected: want.String(), Got: got.String()}
		}
	} else if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		if want, err := digest.Parse(h); err == nil && want.Algorithm() == digest.SHA256 && want != got {
			return nil, "", "", &DigestMismatchError{What: "manifest", Expected: want.String(), Got: got.String()}
		}
	}
	ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	return b, strings.TrimSpace(ct), got, nil
}

// getBlobBytes fetches a small blob (a config) and verifies it.
func (r *repository) getBlobBytes(ctx context.Context, d digest.Digest) ([]byte, error) {
	rc, _, err := r.openBlob(ctx, d, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifestSize {
		return nil, errdefs.InvalidParameterf("blob %s is larger than %d bytes", d, maxManifestSize)
	}
	if got := digest.FromBytes(b); got != d {
		return nil, &DigestMismatchError{What: "blob", Expected: d.String(), Got: got.String()}
	}
	return b, nil
}

// openBlob starts a blob download. The reader resumes with a Range request
// when the connection drops mid-blob. size is the expected length (-1 when
// unknown); it returns the length the registry reports.
func (r *repository) openBlob(ctx context.Context, d digest.Digest, size int64) (io.ReadCloser, int64, error) {
	br := &blobReader{ctx: ctx, r: r, d: d, size: size}
	if err := br.open(); err != nil {
		return nil, 0, err
	}
	return br, br.size, nil
}

type blobReader struct {
	ctx     context.Context
	r       *repository
	d       digest.Digest
	size    int64
	off     int64
	body    io.ReadCloser
	resumes int
}

func (b *blobReader) open() error {
	h := http.Header{}
	if b.off > 0 {
		h.Set("Range", fmt.Sprintf("bytes=%d-", b.off))
	}
	resp, err := b.r.do(b.ctx, request{method: http.MethodGet, url: b.r.url("/blobs/" + b.d.String()), header: h, retry: true})
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if b.size < 0 && resp.ContentLength >= 0 {
			b.size = resp.ContentLength
		}
		if b.off > 0 {
			// The registry ignored Range: skip what was already read.
			if _, err := io.CopyN(io.Discard, resp.Body, b.off); err != nil {
				resp.Body.Close()
				return errdefs.Unavailable(err)
			}
		}
	case http.StatusPartialContent:
	default:
		return readError(resp)
	}
	b.body = resp.Body
	return nil
}

func (b *blobReader) Read(p []byte) (int, error) {
	for {
		n, err := b.body.Read(p)
		b.off += int64(n)
		if err == nil || n > 0 {
			if err == io.EOF && b.size >= 0 && b.off < b.size {
				err = nil // resumed below on the next call
			}
			return n, err
		}
		if err == io.EOF && (b.size < 0 || b.off >= b.size) {
			return 0, io.EOF
		}
		if b.ctx.Err() != nil {
			return 0, b.ctx.Err()
		}
		if (err != io.EOF && !retryable(err)) || b.resumes >= b.r.tries() {
			return 0, err
		}
		b.body.Close()
		b.resumes++
		if err := backoff(b.ctx, b.resumes); err != nil {
			return 0, err
		}
		if err := b.open(); err != nil {
			return 0, err
		}
	}
}

func (b *blobReader) Close() error {
	if b.body != nil {
		return b.body.Close()
	}
	return nil
}

// statBlob reports whether the repository has a blob, and its size.
func (r *repository) statBlob(ctx context.Context, d digest.Digest) (bool, int64, error) {
	resp, err := r.do(ctx, request{method: http.MethodHead, url: r.url("/blobs/" + d.String()), retry: true})
	if err != nil {
		return false, 0, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, resp.ContentLength, nil
	case http.StatusNotFound:
		return false, 0, nil
	}
	return false, 0, classify(&httpError{Method: http.MethodHead, URL: resp.Request.URL.Redacted(), Status: resp.StatusCode})
}

// location resolves an upload Location header against the request URL.
func location(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", errdefs.Unavailable(fmt.Errorf("registry answered %d without a Location", resp.StatusCode))
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return "", errdefs.Unavailable(fmt.Errorf("bad upload location %q: %w", loc, err))
	}
	return u.String(), nil
}

// mount asks the registry to link a blob from another repository. It
// reports whether the blob is now there; when it is not, it returns the
// upload session the registry opened instead (or "").
func (r *repository) mount(ctx context.Context, d digest.Digest, from string) (bool, string, error) {
	q := url.Values{"mount": {d.String()}, "from": {from}}
	resp, err := r.do(ctx, request{method: http.MethodPost, url: r.url("/blobs/uploads/") + "?" + q.Encode(), mountFrom: from, body: emptyBody, retry: true})
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, "", nil
	case http.StatusAccepted:
		loc, err := location(resp)
		return false, loc, err
	}
	return false, "", readError(resp)
}

func emptyBody() (io.Reader, int64, error) { return http.NoBody, 0, nil }

// startUpload opens an upload session and returns its location.
func (r *repository) startUpload(ctx context.Context) (string, error) {
	resp, err := r.do(ctx, request{method: http.MethodPost, url: r.url("/blobs/uploads/"), body: emptyBody, retry: true})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", readError(resp)
	}
	return location(resp)
}

func withDigest(loc string, d digest.Digest) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	return u.String()
}

// putMonolithic uploads a whole blob known in advance in one PUT.
func (r *repository) putMonolithic(ctx context.Context, b []byte, d digest.Digest) error {
	loc, err := r.startUpload(ctx)
	if err != nil {
		return err
	}
	resp, err := r.do(ctx, request{
		method: http.MethodPut, url: withDigest(loc, d), retry: true,
		header: http.Header{"Content-Type": {"application/octet-stream"}},
		body:   func() (io.Reader, int64, error) { return bytes.NewReader(b), int64(len(b)), nil },
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return readError(resp)
	}
	return nil
}

// uploadStream uploads what src yields: in one streamed PATCH, or in
// chunks of chunk bytes with Content-Range; then completes the upload
// with the digest computed on the way (dgst() is called after src hits
// EOF). An upload that fails part way is not resumed: the caller retries
// from the start.
func (r *repository) uploadStream(ctx context.Context, loc string, src io.Reader, chunk int64, dgst func() digest.Digest) error {
	if chunk <= 0 {
		resp, err := r.do(ctx, request{
			method: http.MethodPatch, url: loc,
			header: http.Header{"Content-Type": {"application/octet-stream"}},
			body:   func() (io.Reader, int64, error) { return src, -1, nil },
		})
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent {
			return readError(resp)
		}
		resp.Body.Close()
		if loc, err = location(resp); err != nil {
			return err
		}
	} else {
		buf := make([]byte, chunk)
		var off int64
		for {
			n, err := io.ReadFull(src, buf)
			if n > 0 {
				part := buf[:n]
				resp, perr := r.do(ctx, request{
					method: http.MethodPatch, url: loc, retry: true,
					header: http.Header{
						"Content-Type":  {"application/octet-stream"},
						"Content-Range": {fmt.Sprintf("%d-%d", off, off+int64(n)-1)},
					},
					body: func() (io.Reader, int64, error) { return bytes.NewReader(part), int64(len(part)), nil },
				})
				if perr != nil {
					return perr
				}
				if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent {
					return readError(resp)
				}
				resp.Body.Close()
				if loc, perr = location(resp); perr != nil {
					return perr
				}
				off += int64(n)
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				return err
			}
		}
	}
	d := dgst()
	resp, err := r.do(ctx, request{method: http.MethodPut, url: withDigest(loc, d), body: emptyBody, retry: true})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return readError(resp)
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != d.String() {
		return &DigestMismatchError{What: "uploaded blob", Expected: d.String(), Got: h}
	}
	return nil
}

// putManifest stores a manifest under a tag and returns the digest the
// registry reports (which must match the one berth computed).
func (r *repository) putManifest(ctx context.Context, tag, mediaType string, b []byte) (digest.Digest, error) {
	d := digest.FromBytes(b)
	resp, err := r.do(ctx, request{
		method: http.MethodPut, url: r.url("/manifests/" + tag), retry: true,
		header: http.Header{"Content-Type": {mediaType}},
		body:   func() (io.Reader, int64, error) { return bytes.NewReader(b), int64(len(b)), nil },
	})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", readError(resp)
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != d.String() {
		return "", &DigestMismatchError{What: "pushed manifest", Expected: d.String(), Got: h}
	}
	return d, nil
}

// tags lists a repository's tags (pull --all-tags).
func (r *repository) tags(ctx context.Context) ([]string, error) {
	var all []string
	next := r.url("/tags/list")
	for next != "" {
		resp, err := r.do(ctx, request{method: http.MethodGet, url: next, retry: true})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, readError(resp)
		}
		var body struct {
			Tags []string `json:"tags"`
		}
		err = decodeJSON(resp.Body, &body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, body.Tags...)
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			if s, _, ok := strings.Cut(strings.TrimPrefix(l, "<"), ">"); ok {
				if u, err := resp.Request.URL.Parse(s); err == nil {
					next = u.String()
				}
			}
		}
	}
	return all, nil
}
