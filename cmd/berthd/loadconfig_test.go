package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/berthd/berth/daemon/config"
)

// loadConfig merges flags and daemon.json as dockerd does: a key given by
// both is refused with dockerd's message, whatever the values (a flag's
// key is its daemon.json name: --label is "labels"); each keeps its
// defaults otherwise; --debug or "debug" means log level debug; the file
// may be missing unless --config-file named it; the result is validated.
func TestLoadConfigMergesFlagsAndFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string // "" for no file at the default path
		flags []string
		err   string
		check func(*config.Config) bool
	}{
		{name: "file keys applied, defaults kept", file: `{"log-level":"warn","labels":["a=b"],"live-restore":true}`,
			check: func(c *config.Config) bool {
				return c.LogLevel == "warn" && len(c.Labels) == 1 && c.LiveRestore && c.DataRoot == config.DefaultDataRoot
			}},
		{name: "flags and file on different keys", file: `{"labels":["a=b"]}`, flags: []string{"--log-level=error", "--data-root=/srv/berth"},
			check: func(c *config.Config) bool {
				return c.LogLevel == "error" && c.DataRoot == "/srv/berth" && c.Labels[0] == "a=b"
			}},
		{name: "same key, same value", file: `{"log-level":"warn"}`, flags: []string{"--log-level=warn"},
			err: "the following directives are specified both as a flag and in the configuration file: log-level: (from flag: warn, from file: warn)"},
		{name: "a flag named otherwise in the file", file: `{"labels":["a=b"]}`, flags: []string{"--label=x=y"},
			err: "labels: (from flag: [x=y], from file: [a=b])"},
		{name: "-H against hosts", file: `{"hosts":["unix:///run/x.sock"]}`, flags: []string{"-H", "unix:///run/y.sock"},
			err: "hosts: (from flag: [unix:///run/y.sock], from file: [unix:///run/x.sock])"},
		{name: "an optional boolean", file: `{"iptables":false}`, flags: []string{"--iptables=false"},
			err: "iptables: (from flag: false, from file: false)"},
		{name: "--debug wins over a file's log level", file: `{"log-level":"warn"}`, flags: []string{"--debug"},
			check: func(c *config.Config) bool { return c.Debug && c.LogLevel == "debug" }},
		{name: "debug in the file", file: `{"debug":true}`,
			check: func(c *config.Config) bool { return c.LogLevel == "debug" }},
		{name: "no file at the default path", file: "",
			check: func(c *config.Config) bool { return c.LogLevel == "info" && c.DataRoot == config.DefaultDataRoot }},
		{name: "a missing --config-file", flags: []string{"--config-file", "/nonexistent/daemon.json"},
			err: "no such file or directory"},
		{name: "an unknown key", file: `{"log-level":"warn","nosuch":1}`,
			err: "the following directives don't match any configuration option: nosuch"},
		{name: "a bad value", file: `{"log-level":"loud"}`, err: "loud"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("berthd", pflag.ContinueOnError)
			cfg, o := config.Default(), &options{}
			installFlags(fs, cfg, o)
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			if !fs.Changed("config-file") {
				// The default path, with or without a file.
				o.configFile = filepath.Join(t.TempDir(), "daemon.json")
				if tc.file != "" {
					if err := os.WriteFile(o.configFile, []byte(tc.file), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			merged, err := loadConfig(fs, cfg, o)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case !tc.check(merged):
				t.Fatalf("merged config not as expected: %+v", merged)
			}
		})
	}
}
