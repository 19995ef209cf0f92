package logger

import (
	"strings"
	"testing"
	"time"
)

func testInfo(cfg map[string]string) *Info {
	return &Info{
		Config:              cfg,
		ContainerID:         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		ContainerName:       "/web",
		ContainerImageID:    "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
		ContainerImageName:  "busybox:latest",
		ContainerEntrypoint: "sh",
		ContainerArgs:       []string{"-c", "echo hi"},
		ContainerCreated:    time.Unix(1, 0),
		ContainerEnv:        []string{"STAGE=prod", "REGION=eu", "OTHER=x"},
		ContainerLabels:     map[string]string{"team": "core", "com.example.tier": "front"},
		DaemonName:          "docker",
	}
}

func TestTag(t *testing.T) {
	for tmpl, want := range map[string]string{
		"":                                   "0123456789ab",
		"literal":                            "literal",
		"{{.FullID}}":                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"{{.Name}}/{{.ImageName}}":           "web/busybox:latest",
		"{{.ImageID}}":                       "fedcba987654",
		"{{.DaemonName}}-{{.Command}}":       "docker-sh -c echo hi",
		"{{upper .Name}} {{truncate .ID 4}}": "WEB 0123",
		"{{title .Name}}":                    "Web",
	} {
		got, err := Tag(testInfo(map[string]string{"tag": tmpl}))
		if err != nil || got != want {
			t.Errorf("tag %q = %q, %v; want %q", tmpl, got, err, want)
		}
	}
	if _, err := Tag(testInfo(map[string]string{"tag": "{{.Nope}}"})); err == nil {
		t.Error("a template naming an unknown field expands")
	}
}

func TestExtraAttributes(t *testing.T) {
	info := testInfo(map[string]string{"labels": "team,missing", "labels-regex": `^com\.`, "env": "STAGE", "env-regex": "^REG"})
	got, err := info.ExtraAttributes(strings.ToUpper)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"TEAM": "core", "COM.EXAMPLE.TIER": "front", "STAGE": "prod", "REGION": "eu"}
	if len(got) != len(want) {
		t.Fatalf("got %v; want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v; want %v", got, want)
		}
	}
	if _, err := testInfo(map[string]string{"env-regex": "("}).ExtraAttributes(nil); err == nil {
		t.Error("a bad env-regex is accepted")
	}
}

func TestValidateEngineOpts(t *testing.T) {
	for _, c := range []struct {
		opts map[string]string
		err  string
	}{
		{map[string]string{"mode": "non-blocking", "max-buffer-size": "4m"}, ""},
		{map[string]string{"mode": "blocking"}, ""},
		{map[string]string{"mode": "sometimes"}, "logger: logging mode not supported: sometimes"},
		{map[string]string{"max-buffer-size": "4m"}, "logger: max-buffer-size option is only supported with 'mode=non-blocking'"},
		{map[string]string{"mode": "non-blocking", "max-buffer-size": "lots"}, "error parsing option max-buffer-size"},
		{map[string]string{"cache-disabled": "maybe"}, "invalid value for option cache-disabled: maybe"},
		{map[string]string{"cache-max-size": "10m", "cache-max-file": "2", "cache-compress": "false"}, ""},
		{map[string]string{"cache-max-file": "0"}, "max-file cannot be less than 1"},
	} {
		err := ValidateEngineOpts(c.opts)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.HasPrefix(err.Error(), c.err)) {
			t.Errorf("%v: %v; want %q", c.opts, err, c.err)
		}
	}
	if got := DriverOpts(map[string]string{"mode": "non-blocking", "cache-disabled": "true", "tag": "x"}); len(got) != 1 || got["tag"] != "x" {
		t.Errorf("DriverOpts kept %v", got)
	}
	if err := CheckKeys("syslog", map[string]string{"tag": "x", "env": "A", "syslog-address": "y", "bogus": "1"}, "syslog-address"); err == nil || err.Error() != "unknown log opt 'bogus' for syslog log driver" {
		t.Errorf("CheckKeys: %v", err)
	}
}
