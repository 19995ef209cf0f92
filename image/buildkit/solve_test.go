package buildkit

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestSolveRequestFromParameters(t *testing.T) {
	v := func(s string) *string { return &s }
	req, err := solveRequest(SolveOptions{
		SessionID: "s", Remote: "client-session", Dockerfile: "sub/Dockerfile", Target: "t",
		Platform: "linux/amd64", Tags: []string{"a:1", "b"},
		BuildArgs: map[string]*string{"X": v("1"), "UNSET": nil, "BUILDKIT_INLINE_CACHE": v("1")},
		Labels:    map[string]string{"l": "v"}, CacheFrom: []string{"c1", "c2"},
		NoCache: true, Pull: true, NetworkMode: "host",
		ExtraHosts: []string{"h=1.2.3.4", "g=10.0.0.1"}, ShmSize: 64, Ulimits: []string{"nofile=1:2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"filename": "sub/Dockerfile", "target": "t", "platform": "linux/amd64",
		"build-arg:X": "1", "build-arg:BUILDKIT_INLINE_CACHE": "1", "label:l": "v",
		"cache-from": "c1,c2", "no-cache": "", "image-resolve-mode": "pull",
		"force-network-mode": "host", "add-hosts": "h=1.2.3.4,g=10.0.0.1",
		"shm-size": "64", "ulimit": "nofile=1:2",
	}
	if !maps.Equal(req.FrontendAttrs, want) {
		t.Errorf("frontend attrs\n got %v\nwant %v", req.FrontendAttrs, want)
	}
	if req.Frontend != "dockerfile.v0" || req.Session != "s" || req.Ref == "" {
		t.Errorf("request = %+v", req)
	}
	if !slices.Equal(req.Entitlements, []string{"network.host"}) {
		t.Errorf("entitlements = %v", req.Entitlements)
	}
	if len(req.Exporters) != 1 || req.Exporters[0].Type != "moby" || req.Exporters[0].Attrs["name"] != "a:1,b" {
		t.Errorf("exporters = %+v", req.Exporters)
	}
	if c := req.Cache.Exports; len(c) != 1 || c[0].Type != "inline" {
		t.Errorf("cache exports = %+v", c)
	}
}

func TestSolveRequestContextAndOutputs(t *testing.T) {
	req, err := solveRequest(SolveOptions{Remote: "https://example.invalid/repo.git", Dockerfile: "."})
	if err != nil {
		t.Fatal(err)
	}
	if req.FrontendAttrs["context"] != "https://example.invalid/repo.git" || req.FrontendAttrs["image-resolve-mode"] != "default" {
		t.Errorf("remote context attrs = %v", req.FrontendAttrs)
	}
	if _, ok := req.FrontendAttrs["filename"]; ok {
		t.Errorf("dockerfile \".\" is the default name, not a filename: %v", req.FrontendAttrs)
	}

	req, err = solveRequest(SolveOptions{Remote: "client-session", SessionID: "s", Tags: []string{"x"},
		Outputs: []Output{{Type: "local", Attrs: map[string]string{"dest": "/out"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := req.Exporters; len(e) != 1 || e[0].Type != "local" || e[0].Attrs["dest"] != "/out" || e[0].Attrs["name"] != "" {
		t.Errorf("local output exporters = %+v", e)
	}
	req, err = solveRequest(SolveOptions{Remote: "client-session", SessionID: "s", Outputs: []Output{{Type: "cacheonly"}}})
	if err != nil || len(req.Exporters) != 0 {
		t.Errorf("cacheonly: exporters %+v, err %v", req, err)
	}

	for name, o := range map[string]SolveOptions{
		"uploaded context":  {},
		"session-less":      {Remote: "client-session"},
		"two outputs":       {Remote: "client-session", SessionID: "s", Outputs: []Output{{Type: "local"}, {Type: "tar"}}},
		"bridge network":    {Remote: "client-session", SessionID: "s", NetworkMode: "bridge"},
		"container network": {Remote: "client-session", SessionID: "s", NetworkMode: "container:x"},
	} {
		if _, err := solveRequest(o); !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%s: err %v, want invalid parameter", name, err)
		}
	}
}

func TestBuildJobsCancel(t *testing.T) {
	var j buildJobs
	ctx, done := j.add(context.Background(), "b1")
	j.cancel("other")
	if ctx.Err() != nil {
		t.Fatal("cancelling another ID ended the build")
	}
	j.cancel("b1")
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatal("cancel by ID did not end the build")
	}
	done()
	if len(j.jobs) != 0 {
		t.Errorf("finished build still listed: %v", j.jobs)
	}
	j.cancel("b1") // a finished build's ID is no error
}
