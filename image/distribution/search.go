package distribution

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/registry"

	"github.com/berthd/berth/image/distribution/hosts"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
	"github.com/berthd/berth/pkg/registryauth"
)

// dockerHubIndex is the index that serves searches of Docker Hub names.
const dockerHubIndex = "index.docker.io"

var searchFilters = map[string]bool{"is-automated": true, "is-official": true, "stars": true}

// Search answers GET /images/search with the registry's v1 search API,
// filtered as dockerd filters it. The registry is the index of the term's
// domain (Docker Hub's for a bare name).
func (s *Service) Search(ctx context.Context, args filters.Args, term string, limit int, a Auth) ([]registry.SearchResult, error) {
	if err := args.Validate(searchFilters); err != nil {
		return nil, err
	}
	automated, err := args.GetBoolOrDefault("is-automated", false)
	if err != nil {
		return nil, err
	}
	if automated {
		// Docker Hub has no automated builds any more.
		return []registry.SearchResult{}, nil
	}
	official, err := args.GetBoolOrDefault("is-official", false)
	if err != nil {
		return nil, err
	}
	minStars := 0
	for _, v := range args.Get("stars") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, errdefs.InvalidParameterf("invalid filter 'stars=%s'", v)
		}
		minStars = max(minStars, n)
	}
	if strings.Contains(term, "://") {
		return nil, errdefs.InvalidParameterf("invalid repository name: repository name (%s) should not have a scheme", term)
	}
	if limit == 0 {
		limit = 25
	}
	if limit < 1 || limit > 100 {
		return nil, errdefs.InvalidParameterf("limit %d is outside the range of [1, 100]", limit)
	}
	host, remote := dockerHubIndex, term
	if h, r, ok := strings.Cut(term, "/"); ok && (strings.ContainsAny(h, ".:") || h == "localhost") {
		host, remote = h, r
	}
	if host == dockerHubIndex || host == "docker.io" {
		host = dockerHubIndex
		remote = strings.TrimPrefix(remote, "library/")
	}
	cfg := s.config()
	c, err := s.httpClient(host, cfg, hosts.TLS{}, 0)
	if err != nil {
		return nil, err
	}
	base := &url.URL{Scheme: "https", Host: host, Path: "/v1/"}
	if err := searchPing(ctx, c, base); err != nil {
		if !registryauth.IsInsecure(host, cfg.Insecure) {
			return nil, errdefs.InvalidParameterf("invalid registry endpoint %s: %v. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, please add `--insecure-registry %s` to the daemon's arguments. In the case of HTTPS, if you have access to the registry's CA certificate, no need for the flag; simply place the CA certificate at /etc/docker/certs.d/%s/ca.crt", base, err, host, host)
		}
		httpsURL := base.String()
		base.Scheme = "http"
		if err2 := searchPing(ctx, c, base); err2 != nil {
			return nil, errdefs.InvalidParameterf("invalid registry endpoint %q. HTTPS attempt: %v. HTTP attempt: %v", httpsURL, err, err2)
		}
	}
	u := base.String() + "search?q=" + url.QueryEscape(remote) + "&n=" + strconv.Itoa(limit)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return nil, errdefs.InvalidParameterf("error building request: %v", err)
	}
	req.Header.Set("X-Docker-Token", "true")
	if cfg.UserAgent != "" {
		req.Header.Set("User-Agent", cfg.UserAgent)
	}
	if a.Username != "" {
		req.SetBasicAuth(a.Username, a.Password)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, errdefs.System(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("unexpected status code %d", resp.StatusCode)
	}
	var res registry.SearchResults
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, errdefs.System(fmt.Errorf("error decoding registry search results: %w", err))
	}
	out := []registry.SearchResult{}
	for _, r := range res.Results {
		if official && !r.IsOfficial {
			continue
		}
		if r.StarCount < minStars {
			continue
		}
		// Docker Hub dropped automated builds; dockerd reports none.
		r.IsAutomated = false //nolint:staticcheck // deprecated field, kept false as dockerd does
		out = append(out, r)
	}
	return out, nil
}

// searchPing is the v1 endpoint check dockerd makes before a search.
func searchPing(ctx context.Context, c *http.Client, base *url.URL) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"_ping", http.NoBody)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
