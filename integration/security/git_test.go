package security

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitContextRefRunsNoCommand: POST /build?remote=git@x#--upload-pack=CMD
// (CVE-2019-13139). git@x has no colon, so git takes it for a local path
// and runs the upload-pack "program" through a shell on the host, as root,
// before it finds no repository there. The engine must refuse the ref as
// dockerd does, and never hand an ext:: or file:// remote to git.
func TestGitContextRefRunsNoCommand(t *testing.T) {
	dd := setup(t)
	victim := filepath.Join(t.TempDir(), "victim")
	for _, tc := range []struct{ remote, want string }{
		{"git@x#--upload-pack=touch " + victim + ";", "invalid refspec: --upload-pack=touch " + victim},
		{"git@x#-utouch " + victim + ";", "invalid refspec: -utouch " + victim},
		{"git@x#--upload-pack=touch " + victim + ";:sub", "invalid refspec: --upload-pack=touch " + victim},
		{"git://127.0.0.1:1/x.git#--upload-pack=touch " + victim + ";", "invalid refspec: --upload-pack=touch " + victim},
		{"ext::sh -c touch% " + victim, "could not be recognized as URL"},
		{"file://" + t.TempDir() + "/x.git", "could not be recognized as URL"},
	} {
		resp, body := dd.Do(t, "POST", "/build?remote="+url.QueryEscape(tc.remote), "")
		if _, err := os.Lstat(victim); err == nil {
			t.Fatalf("remote %q: %s was created: the daemon ran a command from the ref (HTTP %d: %s)", tc.remote, victim, resp.StatusCode, body)
		}
		if !strings.Contains(body, tc.want) {
			t.Errorf("remote %q: HTTP %d %s, want an error with %q", tc.remote, resp.StatusCode, body, tc.want)
		}
	}
}
