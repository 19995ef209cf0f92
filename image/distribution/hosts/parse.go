package hosts

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// entry is one host's settings as hosts.toml spells them; the top level
// of the file is an entry for the server.
type entry struct {
	Capabilities []string `toml:"capabilities"`
	// CA is a file name or a list of them.
	CA any `toml:"ca"`
	// Client is a file holding certificate and key, a list of such
	// files, or a list of [certificate, key] pairs.
	Client       any            `toml:"client"`
	SkipVerify   *bool          `toml:"skip_verify"`
	Header       map[string]any `toml:"header"`
	OverridePath bool           `toml:"override_path"`
	DialTimeout  string         `toml:"dial_timeout"`
}

type file struct {
	entry
	Server string           `toml:"server"`
	Host   map[string]entry `toml:"host"`
}

// Parse reads a hosts.toml; dir is its directory, against which relative
// certificate paths are resolved.
func Parse(dir string, b []byte) (*Config, error) {
	var f file
	if err := toml.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	order, err := hostOrder(b)
	if err != nil {
		return nil, err
	}
	c := &Config{Dir: dir}
	for _, name := range order {
		h, err := parseEntry(name, dir, f.Host[name])
		if err != nil {
			return nil, fmt.Errorf("host %q: %w", name, err)
		}
		c.Mirrors = append(c.Mirrors, h)
	}
	if c.Server, err = parseEntry(f.Server, dir, f.entry); err != nil {
		return nil, fmt.Errorf("server %q: %w", f.Server, err)
	}
	return c, nil
}

// hostOrder lists the [host."…"] names in the order the file first
// mentions them: the order mirrors are tried in, which a Go map loses.
func hostOrder(b []byte) ([]string, error) {
	var p unstable.Parser
	p.Reset(b)
	var order []string
	seen := map[string]bool{}
	inRoot := true
	for p.NextExpression() {
		n := p.Expression()
		switch n.Kind {
		case unstable.Table, unstable.ArrayTable:
			inRoot = false
		case unstable.KeyValue:
			if !inRoot {
				continue
			}
		default:
			continue
		}
		keys := n.Key()
		var parts []string
		for keys.Next() {
			parts = append(parts, string(keys.Node().Data))
		}
		if len(parts) >= 2 && parts[0] == "host" && !seen[parts[1]] {
			seen[parts[1]] = true
			order = append(order, parts[1])
		}
	}
	return order, p.Error()
}

// parseEntry turns an entry into a Host; an empty server leaves Scheme
// and Host empty (the caller's default server).
func parseEntry(server, dir string, e entry) (Host, error) {
	h := Host{Path: "/v2", Capabilities: All}
	if server != "" {
		if !strings.HasPrefix(server, "http://") && !strings.HasPrefix(server, "https://") {
			server = "https://" + server
		}
		u, err := url.Parse(server)
		if err != nil {
			return Host{}, err
		}
		if u.Host == "" {
			return Host{}, fmt.Errorf("no host in %q", server)
		}
		h.Scheme, h.Host = u.Scheme, u.Host
		h.Path = apiRoot(u.Path, e.OverridePath)
	}
	if len(e.Capabilities) > 0 {
		h.Capabilities = 0
		for _, c := range e.Capabilities {
			switch strings.ToLower(c) {
			case "pull":
				h.Capabilities |= Pull
			case "resolve":
				h.Capabilities |= Resolve
			case "push":
				h.Capabilities |= Push
			case "referrers":
				// containerd's OCI referrers API; berth does not use it,
				// and a file written for containerd must still load.
			default:
				return Host{}, fmt.Errorf("unknown capability %q", c)
			}
		}
	}
	var err error
	if h.TLS.CAs, err = fileList("ca", e.CA, dir); err != nil {
		return Host{}, err
	}
	if h.TLS.Clients, err = clientPairs(e.Client, dir); err != nil {
		return Host{}, err
	}
	h.TLS.SkipVerify = e.SkipVerify
	if h.Header, err = headers(e.Header); err != nil {
		return Host{}, err
	}
	if e.DialTimeout != "" {
		if h.DialTimeout, err = time.ParseDuration(e.DialTimeout); err != nil {
			return Host{}, fmt.Errorf("dial_timeout: %w", err)
		}
	}
	return h, nil
}

// apiRoot is where the registry API lives under a host URL's path: the
// path itself with override_path (registries that serve it elsewhere),
// else the path with /v2 added unless it already ends so.
func apiRoot(p string, override bool) string {
	if p == "" || p == "/" {
		if override {
			return "/"
		}
		return "/v2"
	}
	p = path.Clean("/" + p)
	if override || strings.HasSuffix(p, "/v2") {
		return p
	}
	return p + "/v2"
}

func absPath(p, dir string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// stringList converts a TOML array of strings.
func stringList(key string, v []any) ([]string, error) {
	out := make([]string, 0, len(v))
	for _, x := range v {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%s: %v is not a string", key, x)
		}
		out = append(out, s)
	}
	return out, nil
}

// fileList reads a string-or-list-of-strings of file names.
func fileList(key string, v any, dir string) ([]string, error) {
	var names []string
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		names = []string{x}
	case []any:
		var err error
		if names, err = stringList(key, x); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s: want a file name or a list of them, not %T", key, v)
	}
	for i := range names {
		names[i] = absPath(names[i], dir)
	}
	return names, nil
}

// clientPairs reads "client": a combined file, a list of combined files,
// or a list of [certificate, key] pairs.
func clientPairs(v any, dir string) ([][2]string, error) {
	list, ok := v.([]any)
	switch {
	case v == nil:
		return nil, nil
	case !ok:
		list = []any{v}
	}
	var out [][2]string
	for _, x := range list {
		switch p := x.(type) {
		case string:
			out = append(out, [2]string{absPath(p, dir), ""})
		case []any:
			pair, err := stringList("client", p)
			if err != nil {
				return nil, err
			}
			if len(pair) != 2 {
				return nil, fmt.Errorf("client: want [certificate, key], got %d names", len(pair))
			}
			out = append(out, [2]string{absPath(pair[0], dir), absPath(pair[1], dir)})
		default:
			return nil, fmt.Errorf("client: want file names or [certificate, key] pairs, not %T", x)
		}
	}
	return out, nil
}

// headers reads "header": each value a string or a list of them.
func headers(m map[string]any) (http.Header, error) {
	if len(m) == 0 {
		return nil, nil
	}
	h := http.Header{}
	for k, v := range m {
		switch x := v.(type) {
		case string:
			h[k] = []string{x}
		case []any:
			vals, err := stringList("header "+k, x)
			if err != nil {
				return nil, err
			}
			h[k] = vals
		default:
			return nil, fmt.Errorf("header %s: want a string or a list of them, not %T", k, v)
		}
	}
	return h, nil
}
