package system

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

func get(t *testing.T, method, path string, body string) (*http.Response, string) {
	t.Helper()
	return d.Do(t, method, path, body)
}

func errorMessage(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Message string }
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	return e.Message
}

func TestPingHeaders(t *testing.T) {
	for _, method := range []string{"GET", "HEAD"} {
		resp, body := get(t, method, "/_ping", "")
		h := resp.Header
		if resp.StatusCode != 200 {
			t.Fatalf("%s /_ping: %d", method, resp.StatusCode)
		}
		want := map[string]string{
			"API-Version":         "1.56",
			"Builder-Version":     "2", // BuildKit, on by default as in dockerd
			"Docker-Experimental": "false",
			"OSType":              "linux",
			"Cache-Control":       "no-cache, no-store, must-revalidate",
			"Pragma":              "no-cache",
			"Content-Type":        "text/plain; charset=utf-8",
		}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("%s /_ping header %s = %q, want %q", method, k, h.Get(k), v)
			}
		}
		if method == "GET" && body != "OK" {
			t.Errorf("GET /_ping body %q", body)
		}
		if method == "HEAD" && (body != "" || h.Get("Content-Length") != "0") {
			t.Errorf("HEAD /_ping body %q length %q", body, h.Get("Content-Length"))
		}
	}
}

func TestVersionPrefixes(t *testing.T) {
	for _, p := range []string{"/version", "/v1.24/version", "/v1.41/version", "/v1.50/version", "/v1.56/version"} {
		resp, body := get(t, "GET", p, "")
		if resp.StatusCode != 200 || !strings.Contains(body, `"ApiVersion":"1.56"`) {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	resp, body := get(t, "GET", "/v1.99/version", "")
	if resp.StatusCode != 400 || errorMessage(t, body) != "client version 1.99 is too new. Maximum supported API version is 1.56" {
		t.Errorf("too new: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, "GET", "/v1.23/info", "")
	if resp.StatusCode != 400 || !strings.HasPrefix(errorMessage(t, body), "client version 1.23 is too old. Minimum supported API version is 1.24") {
		t.Errorf("too old: %d %s", resp.StatusCode, body)
	}
}

func TestUnknownRouteAndBadJSON(t *testing.T) {
	for _, p := range []string{"/nonexistent", "/v1.41/nonexistent", "/v1.50/containers/x/nonexistent"} {
		resp, body := get(t, "GET", p, "")
		if resp.StatusCode != 404 || errorMessage(t, body) != "page not found" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	resp, body := get(t, "POST", "/auth", `{"username":`)
	if resp.StatusCode != 400 || !strings.HasPrefix(errorMessage(t, body), "invalid JSON") {
		t.Errorf("malformed JSON: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, "GET", `/events?filters={"nope":["x"]}&until=1`, "")
	if resp.StatusCode != 400 || errorMessage(t, body) != "invalid filter 'nope'" {
		t.Errorf("bad filter: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, "GET", "/events?since=yesterday", "")
	if resp.StatusCode != 400 {
		t.Errorf("bad since: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, "GET", "/system/df?type=bogus", "")
	if resp.StatusCode != 400 {
		t.Errorf("bad df type: %d %s", resp.StatusCode, body)
	}
	// BuilderSize until API 1.42 removed it, as dockerd 20.10 sends it.
	for v, want := range map[string]bool{"v1.41": true, "v1.42": false, "v1.50": false} {
		resp, body = get(t, "GET", "/"+v+"/system/df", "")
		if resp.StatusCode != 200 || strings.Contains(body, `"BuilderSize":0`) != want || !strings.Contains(body, `"LayersSize"`) {
			t.Errorf("%s system df: %d %s", v, resp.StatusCode, body)
		}
	}
}

func TestDockerVersionAndInfo(t *testing.T) {
	out := d.DockerT(t, "version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}} {{.Server.Arch}}")
	if strings.TrimSpace(out) != "1.56 1.24 linux "+runtime.GOARCH {
		t.Fatalf("docker version: %q", out)
	}
	out = d.DockerT(t, "info", "--format", "{{.OSType}}|{{.Driver}}|{{.DockerRootDir}}|{{.CgroupDriver}}|{{.NCPU}}|{{.ID}}")
	f := strings.Split(strings.TrimSpace(out), "|")
	if len(f) != 6 || f[0] != "linux" || f[1] != "overlay2" || f[2] != d.DataRoot || f[3] != "cgroupfs" || f[4] != fmt.Sprint(runtime.NumCPU()) || f[5] == "" {
		t.Fatalf("docker info: %q", out)
	}
	out = d.DockerT(t, "info", "--format", "{{.KernelVersion}}|{{.OperatingSystem}}|{{.MemTotal}}|{{.CgroupVersion}}|{{json .SecurityOptions}}")
	f = strings.Split(strings.TrimSpace(out), "|")
	if f[0] == "" || f[1] == "" || f[2] == "0" || (f[3] != "1" && f[3] != "2") || !strings.Contains(f[4], "seccomp") {
		t.Fatalf("docker info host figures: %q", out)
	}
	// The human format must render without errors.
	_, stderr, err := d.Docker("info")
	if err != nil || strings.Contains(stderr, "error") {
		t.Fatalf("docker info: %v %s", err, stderr)
	}
}

func TestSystemDF(t *testing.T) {
	out := d.DockerT(t, "system", "df", "--format", "{{.Type}} {{.TotalCount}}")
	for _, want := range []string{"Images", "Containers", "Local Volumes", "Build Cache"} {
		if !strings.Contains(out, want) {
			t.Fatalf("system df missing %s: %q", want, out)
		}
	}
	d.DockerT(t, "system", "df", "-v")
}

func TestGoClient(t *testing.T) {
	c, err := d.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	ping, err := c.Ping(ctx, client.PingOptions{})
	if err != nil || ping.APIVersion != "1.56" || ping.OSType != "linux" {
		t.Fatalf("ping: %+v %v", ping, err)
	}
	info, err := c.Info(ctx, client.InfoOptions{})
	if err != nil || info.Info.DockerRootDir != d.DataRoot {
		t.Fatalf("info: %+v %v", info, err)
	}
	v, err := c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil || v.APIVersion != "1.56" {
		t.Fatalf("version: %+v %v", v, err)
	}
}

func TestAuthRefusedByLocalRegistry(t *testing.T) {
	// A registry on loopback that refuses everyone: login must fail with
	// 401 and the registry's reason, not "Login Succeeded".
	srv := newRefusingRegistry(t)
	resp, body := get(t, "POST", "/auth", fmt.Sprintf(`{"username":"u","password":"p","serveraddress":"%s"}`, srv))
	if resp.StatusCode != 401 {
		t.Fatalf("auth against refusing registry: %d %s", resp.StatusCode, body)
	}
	_, stderr, err := d.Docker("login", "-u", "u", "-p", "p", srv)
	if err == nil || !strings.Contains(stderr, "401") {
		t.Fatalf("docker login: %v %s", err, stderr)
	}
}

func TestEventsStreamUntil(t *testing.T) {
	// A bounded query returns promptly even with no events.
	start := time.Now()
	u := start.Add(300 * time.Millisecond)
	until := fmt.Sprintf("%d.%09d", u.Unix(), u.Nanosecond())
	resp, _ := get(t, "GET", "/events?until="+until, "")
	took := time.Since(start)
	if resp.StatusCode != 200 || took < 250*time.Millisecond || took > 3*time.Second {
		t.Fatalf("events until: %d after %s", resp.StatusCode, took)
	}
}
