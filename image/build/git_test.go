package build

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// gitT runs git for a test's own setup, away from the host's configuration.
func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "protocol.file.allow=always"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitTRepo makes base/name.git, a bare repository with one commit on
// master holding files (a value starting with "->" is a symlink's target)
// and gitlinks (path -> "url" or "url#commit"; without a commit, an
// arbitrary one).
func gitTRepo(t *testing.T, base, name string, files, submodules map[string]string) string {
	t.Helper()
	work := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	gitT(t, work, "init", "-q", "-b", "master")
	for p, body := range files {
		full := filepath.Join(work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(body, "->"); ok {
			err = os.Symlink(target, full)
		} else {
			err = os.WriteFile(full, []byte(body), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var gm strings.Builder
	for p, u := range submodules {
		u, _, _ = strings.Cut(u, "#")
		gm.WriteString("[submodule \"" + p + "\"]\n\tpath = " + p + "\n\turl = " + u + "\n")
	}
	if gm.Len() > 0 {
		if err := os.WriteFile(filepath.Join(work, ".gitmodules"), []byte(gm.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitT(t, work, "add", "-A")
	// After add -A, which would drop a gitlink that has no directory.
	for p, u := range submodules {
		commit := "0123456789abcdef0123456789abcdef01234567"
		if _, c, ok := strings.Cut(u, "#"); ok {
			commit = c
		}
		gitT(t, work, "update-index", "--add", "--cacheinfo", "160000,"+commit+","+p)
	}
	gitT(t, work, "commit", "-q", "-m", "c")
	bare := filepath.Join(base, name+".git")
	gitT(t, "", "clone", "-q", "--bare", work, bare)
	return bare
}

// gitTServe serves the repositories under base as git://127.0.0.1:port/,
// one `git daemon --inetd` per connection, and stops them with the test.
func gitTServe(t *testing.T, base string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			f, err := conn.(*net.TCPConn).File()
			conn.Close()
			if err != nil {
				continue
			}
			cmd := exec.Command("git", "daemon", "--inetd", "--export-all", "--base-path="+base, base)
			cmd.Stdin, cmd.Stdout = f, f
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd.Run()
				f.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		wg.Wait()
	})
	return "git://" + ln.Addr().String()
}

func gitTNoVictim(t *testing.T, victim string) {
	t.Helper()
	if _, err := os.Lstat(victim); err == nil {
		t.Fatalf("%s was created: git ran a command from the request", victim)
	}
}

func TestGitContextClone(t *testing.T) {
	base := t.TempDir()
	gitTRepo(t, base, "repo", map[string]string{
		"Dockerfile":         "FROM scratch\n",
		"sub/Dockerfile":     "FROM sub\n",
		"sub/inner/f":        "f",
		"sub/up":             "->../Dockerfile",
		"link":               "->sub",
		".dockerignore.keep": "",
	}, nil)
	srv := gitTServe(t, base)
	for _, tc := range []struct{ frag, df string }{
		{"", "FROM scratch\n"},
		{"#master", "FROM scratch\n"},
		{"#:sub", "FROM sub\n"},
		{"#master:sub", "FROM sub\n"},
		{"#master:/sub/", "FROM sub\n"},
		{"#master:link", "FROM sub\n"},
		{"#master:sub/inner/..", "FROM sub\n"},
	} {
		t.Run(tc.frag, func(t *testing.T) {
			c, err := ReadContext(context.Background(), t.TempDir(), nil, srv+"/repo.git"+tc.frag, "")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if string(c.Dockerfile) != tc.df {
				t.Errorf("Dockerfile %q, want %q", c.Dockerfile, tc.df)
			}
			if _, err := os.Stat(filepath.Join(c.Dir, ".git")); err == nil {
				t.Error(".git is in the context")
			}
			if !c.FSSums {
				t.Error("FSSums not set")
			}
		})
	}
}

func TestParseGitRemote(t *testing.T) {
	for _, tc := range []struct {
		in            string
		url, ref, sub string
		err           string
	}{
		{in: "git://h/x.git#v1:d", url: "git://h/x.git", ref: "v1", sub: "d"},
		{in: "https://h/x.git#:d", url: "https://h/x.git", sub: "d"},
		{in: "github.com/a/b", url: "https://github.com/a/b"},
		{in: "git@h:x.git#main:a:b", url: "git@h:x.git", ref: "main", sub: "a:b"},
		{in: "git@h/x#--upload-pack=touch /v;", err: "invalid refspec: --upload-pack=touch /v;"},
		{in: "git://h/x.git#-u", err: "invalid refspec: -u"},
		{in: "https://h/x.git#--config=core.sshCommand=x:d", err: "invalid refspec: --config=core.sshCommand=x"},
		{in: "git://h/x.git#%2D%2Dupload-pack=x", err: "invalid refspec: --upload-pack=x"},
	} {
		r, err := parseGitRemote(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || r != (gitRemote{tc.url, tc.ref, tc.sub}) {
			t.Errorf("%s: %+v %v", tc.in, r, err)
		}
	}
}

func TestIsGitURL(t *testing.T) {
	for s, want := range map[string]bool{
		"git://h/x":                   true,
		"git@h:x":                     true,
		"github.com/a/b":              true,
		"https://h/x.git":             true,
		"http://h/x.git#m:d":          true,
		"https://h/x.git#":            false,
		"https://h/x":                 false,
		"ext::sh -c touch% /v":        false,
		"file:///srv/x.git":           false,
		"/srv/x.git":                  false,
		"ssh://h/x.git":               false,
		"-uhttps://h/x.git":           false,
		"--upload-pack=x git://h/x":   false,
		"fd::17":                      false,
		"transport::https://h/x.git#": false,
	} {
		if got := isGitURL(s); got != want {
			t.Errorf("isGitURL(%q) = %v", s, got)
		}
	}
}

// TestGitContextRefIsNeverAnOption: CVE-2019-13139. A ref that git would
// read as --upload-pack=CMD runs CMD as root; with a scp-like URL that is
// really a local path (git@x), git runs it even with no repository there.
func TestGitContextRefIsNeverAnOption(t *testing.T) {
	base := t.TempDir()
	gitTRepo(t, base, "repo", map[string]string{"Dockerfile": "FROM scratch\n"}, nil)
	srv := gitTServe(t, base)
	victim := filepath.Join(t.TempDir(), "victim")
	for _, remote := range []string{
		"git@x#--upload-pack=touch " + victim + ";",
		"git@x#-utouch " + victim + ";",
		"git@x#--config=core.sshCommand=touch " + victim,
		srv + "/repo.git#--upload-pack=touch " + victim + ";:",
		srv + "/repo.git#-u touch " + victim + ";",
	} {
		_, err := ReadContext(context.Background(), t.TempDir(), nil, remote, "")
		if err == nil || !strings.HasPrefix(err.Error(), "invalid refspec: -") {
			t.Errorf("%s: error %v, want invalid refspec", remote, err)
		}
		gitTNoVictim(t, victim)
	}
}

// TestGitContextTransports: only the network transports dockerd uses reach
// git. ext:: runs a command; file:// and plain paths read the host.
func TestGitContextTransports(t *testing.T) {
	base := t.TempDir()
	local := gitTRepo(t, base, "repo", map[string]string{"Dockerfile": "FROM scratch\n"}, nil)
	victim := filepath.Join(t.TempDir(), "victim")
	ext := "ext::sh -c touch% " + victim
	for _, remote := range []string{ext, "file://" + local, local} {
		_, err := ReadContext(context.Background(), t.TempDir(), nil, remote, "")
		if err == nil || !strings.Contains(err.Error(), "could not be recognized as URL") {
			t.Errorf("%s: error %v", remote, err)
		}
	}
	// Were one of them to reach git (a future caller, a form isGitURL
	// lets through), git itself must refuse the transport.
	// ssh gets the host as an argument: one that reads as an option
	// (-oProxyCommand=CMD) must not reach ssh as one. No "/" before the
	// ":", or git would take it for a local path.
	t.Setenv("BERTH_GIT_VICTIM", victim)
	proxy := "git@-oProxyCommand=touch${IFS}$BERTH_GIT_VICTIM:x"
	for _, remote := range []string{ext, "file://" + local, local, "git@x", proxy} {
		err := gitClone(context.Background(), filepath.Join(t.TempDir(), "clone"), gitRemote{url: remote, ref: "master"})
		if err == nil {
			t.Errorf("%s: cloned", remote)
		}
		gitTNoVictim(t, victim)
	}
}

// TestGitContextSubmodules: a .gitmodules is content from the remote; its
// URLs get the same transport rules as the remote itself.
func TestGitContextSubmodules(t *testing.T) {
	base := t.TempDir()
	secret := gitTRepo(t, t.TempDir(), "secret", map[string]string{"secret": "host data"}, nil)
	victim := filepath.Join(t.TempDir(), "victim")
	gitTRepo(t, base, "ext", map[string]string{"Dockerfile": "FROM scratch\n"},
		map[string]string{"mod": "ext::sh -c touch% " + victim})
	gitTRepo(t, base, "file", map[string]string{"Dockerfile": "FROM scratch\n"},
		map[string]string{"mod": "file://" + secret})
	gitTRepo(t, base, "path", map[string]string{"Dockerfile": "FROM scratch\n"},
		map[string]string{"mod": secret})
	srv := gitTServe(t, base)
	for _, name := range []string{"ext", "file", "path"} {
		c, err := ReadContext(context.Background(), t.TempDir(), nil, srv+"/"+name+".git", "")
		if err == nil {
			_, serr := os.Stat(filepath.Join(c.Dir, "mod", "secret"))
			c.Close()
			t.Errorf("%s: no error (host repository copied: %v)", name, serr == nil)
			continue
		}
		if !strings.Contains(err.Error(), "error initializing submodules") {
			t.Errorf("%s: %v", name, err)
		}
		gitTNoVictim(t, victim)
	}
}

// TestGitContextSubmoduleOverGit: a submodule on an allowed transport
// is still fetched.
func TestGitContextSubmoduleOverGit(t *testing.T) {
	base := t.TempDir()
	lib := gitTRepo(t, base, "lib", map[string]string{"lib.txt": "lib"}, nil)
	srv := gitTServe(t, base)
	gitTRepo(t, base, "main", map[string]string{"Dockerfile": "FROM scratch\n"},
		map[string]string{"vendor/lib": srv + "/lib.git#" + gitT(t, lib, "rev-parse", "master")})
	c, err := ReadContext(context.Background(), t.TempDir(), nil, srv+"/main.git", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, err := os.ReadFile(filepath.Join(c.Dir, "vendor/lib/lib.txt")); err != nil || string(b) != "lib" {
		t.Fatalf("submodule content %q %v", b, err)
	}
}

// TestGitContextSubdirStaysInClone: the subdirectory is resolved as if the
// clone were the root, so a symlink in the repository cannot bring a host
// directory into the context.
func TestGitContextSubdirStaysInClone(t *testing.T) {
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "Dockerfile"), []byte("FROM host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	gitTRepo(t, base, "repo", map[string]string{
		"Dockerfile": "FROM repo\n",
		"root":       "->/",
		"up":         "->../../../../../../..",
		"abs":        "->" + hostDir,
		"rel":        "->../../../../../../.." + hostDir,
		"file":       "->Dockerfile",
		"x/y":        "",
	}, nil)
	srv := gitTServe(t, base)
	// root and up resolve to the clone's own root, as in dockerd.
	for _, sub := range []string{"root", "up", "root/root/up"} {
		c, err := ReadContext(context.Background(), t.TempDir(), nil, srv+"/repo.git#master:"+sub, "")
		if err != nil {
			t.Errorf("%s: %v", sub, err)
			continue
		}
		if string(c.Dockerfile) != "FROM repo\n" {
			t.Errorf("%s: Dockerfile %q", sub, c.Dockerfile)
		}
		if _, err := os.Stat(filepath.Join(c.Dir, "etc")); err == nil {
			t.Errorf("%s: the host's / is in the context", sub)
		}
		c.Close()
	}
	for sub, want := range map[string]string{
		"abs":     "does not exist",
		"rel":     "does not exist",
		"missing": "does not exist",
		"file":    "not a directory",
		"x/y":     "not a directory",
	} {
		c, err := ReadContext(context.Background(), t.TempDir(), nil, srv+"/repo.git#master:"+sub, "")
		if err == nil {
			t.Errorf("%s: context with Dockerfile %q", sub, c.Dockerfile)
			c.Close()
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", sub, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(hostDir, "Dockerfile")); err != nil {
		t.Errorf("the host directory lost its file: %v", err)
	}
}

// TestGitContextRemoteConfigIsInert: nothing in the served repository's
// own config (hooks, fsmonitor, filter drivers a .gitattributes names)
// travels with a fetch, so nothing of it runs on the host.
func TestGitContextRemoteConfigIsInert(t *testing.T) {
	base := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	bare := gitTRepo(t, base, "repo", map[string]string{
		"Dockerfile":     "FROM scratch\n",
		".gitattributes": "* filter=evil diff=evil\n",
	}, nil)
	for k, v := range map[string]string{
		"filter.evil.smudge":   "touch " + victim,
		"filter.evil.process":  "touch " + victim,
		"filter.evil.required": "true",
		"diff.evil.textconv":   "touch " + victim,
		"core.fsmonitor":       "touch " + victim,
		"core.hooksPath":       filepath.Join(bare, "hooks"),
	} {
		gitT(t, bare, "config", k, v)
	}
	hook := "#!/bin/sh\ntouch " + victim + "\n"
	for _, h := range []string{"post-checkout", "post-merge", "reference-transaction", "fsmonitor-watchman"} {
		if err := os.WriteFile(filepath.Join(bare, "hooks", h), []byte(hook), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	srv := gitTServe(t, base)
	c, err := ReadContext(context.Background(), t.TempDir(), nil, srv+"/repo.git", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	gitTNoVictim(t, victim)
	if string(c.Dockerfile) != "FROM scratch\n" {
		t.Errorf("Dockerfile %q", c.Dockerfile)
	}
}

// TestGitContextDumbHTTP: a server without shallow fetches (a static
// directory over http) still serves every form of ref.
func TestGitContextDumbHTTP(t *testing.T) {
	base := t.TempDir()
	bare := gitTRepo(t, base, "repo", map[string]string{"Dockerfile": "FROM scratch\n"}, nil)
	gitT(t, bare, "branch", "dev")
	gitT(t, bare, "tag", "v1")
	gitT(t, bare, "update-server-info")
	srv := httptest.NewServer(http.FileServer(http.Dir(base)))
	defer srv.Close()
	for _, frag := range []string{"", "#master", "#dev", "#v1"} {
		c, err := ReadContext(context.Background(), t.TempDir(), nil, srv.URL+"/repo.git"+frag, "")
		if err != nil {
			t.Errorf("%q: %v", frag, err)
			continue
		}
		if string(c.Dockerfile) != "FROM scratch\n" {
			t.Errorf("%q: Dockerfile %q", frag, c.Dockerfile)
		}
		c.Close()
	}
}
