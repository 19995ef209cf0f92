package cni

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// fakePlugin is a CNI plugin written as a shell script: it records each
// invocation (environment and stdin) in the test's log directory and acts
// by the name it was installed under:
//
//	fakenet   ADD prints a result with a host-side and two pod addresses
//	          (IPv6 listed first, so the ordering is the Manager's)
//	fakefail  ADD fails with a CNI error
//	fakeslow  ADD sleeps for a minute (a hung plugin)
//
// Every DEL succeeds and VERSION answers for the spec versions in use.
const fakePlugin = `#!/bin/sh
name=$(basename "$0")
n=$(ls "$FAKE_CNI_LOG" | wc -l)
rec="$FAKE_CNI_LOG/$(printf %04d "$n")-$name-$CNI_COMMAND"
env | grep -E '^(CNI_|FAKE_)' | sort >"$rec.env"
cat >"$rec.stdin"
case "$CNI_COMMAND" in
VERSION)
  echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}'
  exit 0 ;;
ADD) ;;
*) exit 0 ;;
esac
case "$name" in
fakefail)
  echo '{"cniVersion":"1.0.0","code":11,"msg":"fakefail refuses","details":"on purpose"}'
  exit 1 ;;
fakeslow)
  exec sleep 60 ;;
esac
ver=$(sed -n 's/.*"cniVersion" *: *"\([^"]*\)".*/\1/p' "$rec.stdin")
case "$ver" in
0.3.*|0.4.*)
  cat <<JSON
{"cniVersion":"$ver","interfaces":[{"name":"fakebr0"},{"name":"eth0","sandbox":"$CNI_NETNS"}],
 "ips":[{"version":"4","address":"10.99.0.1/24","interface":0},
        {"version":"6","address":"fd99::5/64","interface":1},
        {"version":"4","address":"10.99.0.5/24","interface":1}]}
JSON
  ;;
*)
  cat <<JSON
{"cniVersion":"$ver","interfaces":[{"name":"fakebr0"},{"name":"eth0","sandbox":"$CNI_NETNS"}],
 "ips":[{"address":"10.99.0.1/24","interface":0},
        {"address":"fd99::5/64","interface":1},
        {"address":"10.99.0.5/24","interface":1}]}
JSON
  ;;
esac
`

// fakeEnv is a Manager's world of fake plugins: bin, conf, cache and log
// directories under the test's temp dir.
type fakeEnv struct {
	t                        *testing.T
	bin, conf, cache, logDir string
}

func newFakeEnv(t *testing.T, plugins ...string) *fakeEnv {
	t.Helper()
	root := t.TempDir()
	e := &fakeEnv{t: t, bin: filepath.Join(root, "bin"), conf: filepath.Join(root, "net.d"),
		cache: filepath.Join(root, "cache"), logDir: filepath.Join(root, "log")}
	for _, d := range []string{e.bin, e.conf, e.logDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.install(e.bin, plugins...)
	t.Setenv("FAKE_CNI_LOG", e.logDir)
	return e
}

func (e *fakeEnv) install(dir string, plugins ...string) {
	e.t.Helper()
	for _, p := range plugins {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(fakePlugin), 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *fakeEnv) manager() *Manager {
	return New(Config{BinDirs: []string{e.bin}, ConfDir: e.conf, CacheDir: e.cache})
}

func (e *fakeEnv) writeConf(name, body string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.conf, name), []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// call is one recorded plugin invocation.
type call struct {
	plugin, command string
	env             map[string]string
	stdin           map[string]any
}

func (c call) String() string { return c.command + " " + c.plugin }

// calls returns the invocations so far, oldest first, and forgets them.
func (e *fakeEnv) calls() []call {
	e.t.Helper()
	entries, err := os.ReadDir(e.logDir)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		if n, ok := strings.CutSuffix(en.Name(), ".env"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []call
	for _, n := range names {
		parts := strings.SplitN(n, "-", 3)
		c := call{plugin: parts[1], command: parts[2], env: map[string]string{}}
		envText, _ := os.ReadFile(filepath.Join(e.logDir, n+".env"))
		for _, line := range strings.Split(strings.TrimSpace(string(envText)), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				c.env[k] = v
			}
		}
		if stdin, _ := os.ReadFile(filepath.Join(e.logDir, n+".stdin")); len(stdin) > 0 {
			if err := json.Unmarshal(stdin, &c.stdin); err != nil {
				e.t.Fatalf("%s: stdin is not JSON: %v: %s", n, err, stdin)
			}
		}
		out = append(out, c)
	}
	for _, en := range entries {
		os.Remove(filepath.Join(e.logDir, en.Name()))
	}
	return out
}

// wantCalls fails unless the recorded invocations are exactly want
// ("ADD fakenet", ...), and returns them.
func (e *fakeEnv) wantCalls(want ...string) []call {
	e.t.Helper()
	got := e.calls()
	var gotS []string
	for _, c := range got {
		gotS = append(gotS, c.String())
	}
	if !slices.Equal(gotS, want) {
		e.t.Fatalf("plugin calls = %q, want %q", gotS, want)
	}
	return got
}

// cacheFiles lists libcni's cached results.
func (e *fakeEnv) cacheFiles() []string {
	entries, _ := os.ReadDir(filepath.Join(e.cache, "results"))
	var out []string
	for _, en := range entries {
		out = append(out, en.Name())
	}
	return out
}
