package syslog

import (
	"strings"
	"testing"
	"time"
)

func TestFormats(t *testing.T) {
	when := time.Date(2026, 3, 4, 5, 6, 7, 891234000, time.UTC)
	h := header{priority: 3<<3 | 6, time: when, hostname: "box", tag: "web", pid: 42}
	for format, want := range map[string]string{
		"":             "<30>Mar  4 05:06:07 web[42]: hello",
		"rfc3164":      "<30>Mar  4 05:06:07 box web[42]: hello",
		"rfc5424":      "<30>1 2026-03-04T05:06:07Z box web 42 web - hello",
		"rfc5424micro": "<30>1 2026-03-04T05:06:07.891234Z box web 42 web - hello",
	} {
		f, err := parseFormat(format)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(f(nil, h, []byte("hello"))); got != want {
			t.Errorf("format %q: %q; want %q", format, got, want)
		}
	}
	if _, err := parseFormat("rfc9999"); err == nil || err.Error() != "Invalid syslog format" {
		t.Errorf("an unknown format: %v", err)
	}
}

func TestFacility(t *testing.T) {
	for s, want := range map[string]int{"": 3, "local7": 23, "kern": 0, "5": 5} {
		if got, err := parseFacility(s); err != nil || got != want {
			t.Errorf("facility %q = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"24", "-1", "nope"} {
		if _, err := parseFacility(s); err == nil {
			t.Errorf("facility %q accepted", s)
		}
	}
}

func TestValidate(t *testing.T) {
	for opts, want := range map[string]string{
		"syslog-address=ftp://x":       "unsupported scheme: 'ftp'",
		"syslog-facility=mars":         "invalid syslog facility",
		"syslog-format=nope":           "Invalid syslog format",
		"syslog-tag=x":                 "unknown log opt 'syslog-tag' for syslog log driver",
		"syslog-address=udp://1.2.3.4": "",
	} {
		k, v, _ := strings.Cut(opts, "=")
		err := Validate(map[string]string{k: v})
		if want == "" && err != nil || want != "" && (err == nil || err.Error() != want) {
			t.Errorf("%s: %v; want %q", opts, err, want)
		}
	}
	if _, addr, _ := parseAddress("tcp://127.0.0.1"); addr != "127.0.0.1:514" {
		t.Errorf("default port: %s", addr)
	}
}
