package main

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"cmd/berthd", "api/router/build", true},
		{"cmd/berthd", "daemon", true},
		{"hack/bench", "network/firewall", true},
		{"integration/container", "daemon/config", true},
		{"api/server", "api/router", true},
		{"api/router/network", "daemon/backend", true},
		{"api/router/network", "pkg/filters", true},
		{"api/router/network", "network", false},
		{"api/router/system", "daemon/events", false},
		{"api/router/system", "daemon", false},
		{"api/server", "cmd/berthd", false},
		{"daemon", "daemon/backend", true},
		{"daemon", "daemon/events", true},
		{"daemon", "image/build", true},
		{"daemon", "pkg/shim", true},
		{"daemon", "api", false},
		{"daemon", "api/router/network", false},
		{"daemon/config", "network", true},
		{"daemon", "cmd/berthd", false},
		{"daemon/backend", "pkg/filters", true},
		{"daemon/backend", "daemon/events", false},
		{"daemon/backend", "api/router", false},
		{"daemon/backend", "image", false},
		{"network", "network/bridge", true},
		{"network/bridge", "network/internal/nettest", true},
		{"network", "pkg/errdefs", true},
		{"network", "volume", false},
		{"plugin", "volume/plugin", false},
		{"plugin", "pkg/shim", true},
		{"image/distribution", "container", false},
		{"volume/service", "daemon", false},
		{"container", "api/router", false},
		{"container", "daemon/backend", false},
		{"pkg/runtime", "pkg/caps", true},
		{"pkg/shim", "daemon", false},
		{"daemon", "metrics", true},
		{"metrics", "daemon", false},
		{"metrics", "container", false},
		{"pkg/runtime", "container", false},
		{"pkg/filters", "daemon/backend", false},
		{"contrib/x", "pkg/errdefs", false},
		{"pkg/errdefs", "contrib/x", false},
	} {
		why := check(tc.from, tc.to)
		if (why == "") != tc.ok {
			t.Errorf("check(%q, %q) = %q, want allowed=%v", tc.from, tc.to, why, tc.ok)
		}
	}
}

func TestViolationsReadsGoList(t *testing.T) {
	const list = `{"ImportPath":"example.com/m/daemon","Imports":["context","example.com/m/api/router/network","example.com/m/pkg/errdefs","github.com/x/y"],"Module":{"Path":"example.com/m"}}
{"ImportPath":"example.com/m/api/router/network","Imports":["example.com/m/daemon/backend"],"Module":{"Path":"example.com/m"}}
{"ImportPath":"golang.org/x/other","Imports":["example.com/m/daemon"]}
`
	bad, err := violations(strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || !strings.HasPrefix(bad[0], "daemon imports api/router/network: ") {
		t.Fatalf("violations = %q", bad)
	}
}

func TestViolationsReportsBrokenPackages(t *testing.T) {
	const list = `{"ImportPath":"example.com/m/pkg/x","Module":{"Path":"example.com/m"},"Error":{"Err":"no Go files"}}`
	if _, err := violations(strings.NewReader(list)); err == nil {
		t.Fatal("a package go list could not load passed the check")
	}
}
