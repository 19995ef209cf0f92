package authz

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/api/router"
	"github.com/berthd/berth/pkg/errdefs"
)

// The plugin protocol's methods.
const (
	methodRequest  = "AuthZPlugin.AuthZReq"
	methodResponse = "AuthZPlugin.AuthZRes"
)

// maxBodySize is the largest request body shown to a plugin; a larger
// JSON body is refused, as dockerd refuses it.
const maxBodySize = 4 << 20

// Plugin is one authorization plugin, as the daemon finds it.
type Plugin interface {
	// Name is the plugin's name (a managed plugin's with its tag).
	Name() string
	Call(ctx context.Context, method string, args, ret any) error
}

// Middleware wraps the API's handlers with the chain.
type Middleware struct {
	// Chain lists the plugin names requests go through, in order; it is
	// read for each request, so that a reload or a disabled plugin
	// changes it.
	Chain func() []string
	// Get finds the plugin named name.
	Get func(ctx context.Context, name string) (Plugin, error)
}

// Request is what a plugin is shown (dockerd's authorization.Request).
type Request struct {
	User                    string            `json:"User,omitempty"`
	UserAuthNMethod         string            `json:"UserAuthNMethod,omitempty"`
	RequestMethod           string            `json:"RequestMethod,omitempty"`
	RequestURI              string            `json:"RequestUri,omitempty"`
	RequestBody             []byte            `json:"RequestBody,omitempty"`
	RequestHeaders          map[string]string `json:"RequestHeaders,omitempty"`
	RequestPeerCertificates []peerCert        `json:"RequestPeerCertificates,omitempty"`
	ResponseStatusCode      int               `json:"ResponseStatusCode,omitempty"`
	ResponseBody            []byte            `json:"ResponseBody,omitempty"`
	ResponseHeaders         map[string]string `json:"ResponseHeaders,omitempty"`
}

// Response is a plugin's verdict.
type Response struct {
	Allow bool   `json:"Allow"`
	Msg   string `json:"Msg,omitempty"`
	Err   string `json:"Err,omitempty"`
}

// denied is a plugin's refusal: 403 with dockerd's words.
type denied struct{ error }

func (denied) Forbidden() {}

// Wrap puts h behind the chain.
func (m *Middleware) Wrap(h router.APIFunc) router.APIFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
		if m == nil || m.Chain == nil {
			return h(ctx, w, r, vars)
		}
		names := m.Chain()
		if len(names) == 0 {
			return h(ctx, w, r, vars)
		}
		req, err := newRequest(r)
		if err != nil {
			return err
		}
		if err := m.ask(ctx, names, methodRequest, req); err != nil {
			logrus.WithError(err).WithField("uri", r.RequestURI).Error("authorization plugin refused the request")
			return err
		}
		held := newHeldResponse(w)
		herr := h(ctx, held, r, vars)
		// The chain as it is now: a plugin disabled by this very request
		// is not asked about its answer.
		if names = m.Chain(); len(names) == 0 {
			held.send()
			return herr
		}
		req.ResponseStatusCode = held.statusCode()
		req.ResponseHeaders = headers(held.Header())
		if sendsBody(req.RequestURI, held.Header()) {
			req.ResponseBody = held.body
		}
		if err := m.ask(ctx, names, methodResponse, req); err != nil && herr == nil {
			if held.sent {
				// Already on its way: dockerd cannot take it back either.
				logrus.WithError(err).WithField("uri", r.RequestURI).Error("authorization plugin refused a response already sent")
				return nil
			}
			return err
		}
		if herr == nil || held.status != 0 || len(held.body) > 0 {
			held.send()
		}
		return herr
	}
}

// ask shows req to each plugin of names in turn.
func (m *Middleware) ask(ctx context.Context, names []string, method string, req *Request) error {
	for _, name := range dedupe(names) {
		p, err := m.Get(ctx, name)
		if err != nil {
			return errdefs.System(fmt.Errorf("plugin %s failed with error: %w", name, err))
		}
		var res Response
		if err := p.Call(ctx, method, req, &res); err != nil {
			return errdefs.System(fmt.Errorf("plugin %s failed with error: %w", p.Name(), err))
		}
		if res.Err != "" {
			return errdefs.System(fmt.Errorf("plugin %s failed with error: %s", p.Name(), res.Err))
		}
		if !res.Allow {
			return denied{fmt.Errorf("authorization denied by plugin %s: %s", p.Name(), res.Msg)}
		}
	}
	return nil
}

func dedupe(names []string) []string {
	seen := map[string]bool{}
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// newRequest describes r for the plugins. A JSON body is read ahead (and
// put back for the handler).
func newRequest(r *http.Request) (*Request, error) {
	req := &Request{
		RequestMethod:  r.Method,
		RequestURI:     r.RequestURI,
		RequestHeaders: headers(r.Header),
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		req.User = r.TLS.PeerCertificates[0].Subject.CommonName
		req.UserAuthNMethod = "TLS"
		for _, c := range r.TLS.PeerCertificates {
			req.RequestPeerCertificates = append(req.RequestPeerCertificates, peerCert(c.Raw))
		}
	}
	if r.Body != nil && sendsBody(r.RequestURI, r.Header) {
		br := bufio.NewReaderSize(r.Body, maxBodySize+1)
		peeked, err := br.Peek(maxBodySize + 1)
		if err == nil {
			return nil, errdefs.InvalidParameterf("request body too large for authorization plugin: size exceeds %d bytes", maxBodySize)
		}
		if err != io.EOF {
			return nil, err
		}
		req.RequestBody = bytes.Clone(peeked)
		r.Body = readCloser{br, r.Body}
	}
	return req, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

var authPath = regexp.MustCompile(`^[^/]*/(v\d[\d.]*/)?auth`)

// sendsBody: only JSON bodies are shown, and never those of /auth, which
// carry credentials.
func sendsBody(uri string, h http.Header) bool {
	u, err := url.Parse(uri)
	if err != nil || authPath.MatchString(u.Path) {
		return false
	}
	ct, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && ct == "application/json"
}

// headers flattens h for the plugins, without credentials.
func headers(h http.Header) map[string]string {
	out := map[string]string{}
	for k, vs := range h {
		switch strings.ToLower(k) {
		case "authorization", "x-registry-config", "x-registry-auth":
			continue
		}
		for _, v := range vs {
			out[k] = v
		}
	}
	return out
}
