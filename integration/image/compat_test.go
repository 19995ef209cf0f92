package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// TestCompatSearch: GET /images/search speaks the registry's v1 search
// API (here a loopback fake, insecure by being loopback) and filters as
// dockerd does; the docker CLI prints the results.
func TestCompatSearch(t *testing.T) {
	var asked string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/_ping":
			w.Write([]byte("true"))
		case "/v1/search":
			asked = r.URL.RawQuery
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"query":"x","num_results":2,"results":[
				{"name":"team/tool","description":"a tool","star_count":3,"is_official":false},
				{"name":"base","description":"official","star_count":50,"is_official":true}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	resp, body := d.Do(t, "GET", "/images/search?term="+host+"/tool&limit=10", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var res []map[string]any
	if err := json.Unmarshal([]byte(body), &res); err != nil || len(res) != 2 {
		t.Fatalf("results %s: %v", body, err)
	}
	if asked != "q=tool&n=10" {
		t.Errorf("registry asked %q", asked)
	}
	c, err := d.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.ImageSearch(context.Background(), host+"/tool", client.ImageSearchOptions{
		Filters: make(client.Filters).Add("is-official", "true").Add("stars", "10"),
	})
	if err != nil || len(got.Items) != 1 || got.Items[0].Name != "base" {
		t.Fatalf("filtered: %+v %v", got, err)
	}
	out, stderr, err := d.Docker("search", host+"/tool")
	if err != nil || !strings.Contains(out, "team/tool") {
		t.Fatalf("docker search: %v %s %s", err, out, stderr)
	}
	for q, want := range map[string]string{
		"term=x&filters=%7B%22bogus%22%3A%7B%22a%22%3Atrue%7D%7D": "invalid filter 'bogus'",
		"term=" + host + "/x&limit=101":                           "limit 101 is outside the range of [1, 100]",
		"term=http://x":                                           "invalid repository name: repository name (http://x) should not have a scheme",
	} {
		resp, body := d.Do(t, "GET", "/images/search?"+q, "")
		if resp.StatusCode != 400 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
}

// TestCompatImageListByVersion: identity needs manifests (1.54), and the
// container count is filled from 1.51 on (-1 before).
func TestCompatImageListByVersion(t *testing.T) {
	// An image of its own, removed after: the package's other tests
	// count on which names their (same-content) images carry.
	load(t, "it-compat-list:1", false)
	t.Cleanup(func() { d.Docker("rmi", "it-compat-list:1") })
	resp, body := d.Do(t, "GET", "/v1.54/images/json?identity=1", "")
	if resp.StatusCode != 400 || !strings.Contains(body, "conflicting options: identity requires manifests=1") {
		t.Fatalf("identity: %d %s", resp.StatusCode, body)
	}
	count := func(v string) []float64 {
		_, body := d.Do(t, "GET", v+"/images/json", "")
		var l []map[string]any
		if err := json.Unmarshal([]byte(body), &l); err != nil || len(l) == 0 {
			t.Fatalf("%s list: %v %s", v, err, body)
		}
		var out []float64
		for _, i := range l {
			out = append(out, i["Containers"].(float64))
		}
		return out
	}
	for _, c := range count("/v1.50") {
		if c != -1 {
			t.Errorf("1.50 Containers %v", c)
		}
	}
	for _, c := range count("/v1.51") {
		if c < 0 {
			t.Errorf("1.51 Containers %v", c)
		}
	}
}

// TestCompatImportFromURL: fromSrc may name a URL (http:// when no scheme
// is given); the server's 404 stays a 404, a malformed source is a 400.
func TestCompatImportFromURL(t *testing.T) {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("hello"))
	tw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rootfs.tar" {
			http.NotFound(w, r)
			return
		}
		w.Write(tarball.Bytes())
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := "compat-url-import:" + fmt.Sprint(time.Now().UnixNano()%1_000_000)
	defer d.Docker("rmi", ref)
	resp, body := d.Do(t, "POST", "/images/create?fromSrc="+url.QueryEscape(host+"/rootfs.tar")+"&repo="+strings.Replace(ref, ":", "&tag=", 1), "")
	if resp.StatusCode != 200 || !strings.Contains(body, "Downloading from http://"+host+"/rootfs.tar") || !strings.Contains(body, "sha256:") {
		t.Fatalf("import: %d %s", resp.StatusCode, body)
	}
	if out := d.DockerT(t, "image", "inspect", "-f", "{{.Id}}", ref); !strings.HasPrefix(out, "sha256:") {
		t.Fatalf("imported image: %s", out)
	}
	for src, want := range map[string]int{srv.URL + "/nofile.tar": 404, host + "/nofile.tar": 404, "%2Fdata%2Ffile.tar": 400} {
		resp, body := d.Do(t, "POST", "/images/create?fromSrc="+url.QueryEscape(src)+"&repo=compat-bad-src&tag=x", "")
		if resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", src, resp.StatusCode, body, want)
		}
	}
}
