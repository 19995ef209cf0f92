package runtime_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/runtime"
)

// An exec that cannot start its command says why in words and in the
// errno behind them, which is what its callers classify it by (a shell's
// 127 for ENOENT, 126 for EACCES and EISDIR).
func TestExecFailureCarriesErrno(t *testing.T) {
	rt := newRuntime(t)
	c, in := startWaiting(t, rt, sh(t, "echo started; read x"))
	defer in.Close()
	for _, tc := range []struct {
		cmd   string
		errno syscall.Errno
		words string
	}{
		{"nosuchcmd", syscall.ENOENT, `exec: "nosuchcmd": executable file not found in $PATH`},
		{"/no/such/file", syscall.ENOENT, `no such file or directory`},
		{"/etc/passwd", syscall.EACCES, `exec: "/etc/passwd": permission denied`},
		{"/etc", syscall.EISDIR, `exec: "/etc": is a directory`},
	} {
		_, err := c.Exec(context.Background(), runtime.ExecOpts{
			Process: specs.Process{Args: []string{tc.cmd}, Env: []string{"PATH=/bin"}, Cwd: "/",
				Capabilities: c.Spec().Process.Capabilities},
			Stdout: os.Stderr, Stderr: os.Stderr,
		})
		if err == nil {
			t.Fatalf("exec %s started", tc.cmd)
		}
		if !errors.Is(err, tc.errno) || runtime.ErrnoOf(err) != tc.errno {
			t.Errorf("exec %s: %v carries errno %d, want %d (%v)", tc.cmd, err, runtime.ErrnoOf(err), tc.errno, tc.errno)
		}
		if !strings.Contains(err.Error(), tc.words) {
			t.Errorf("exec %s: %q, want the words %q", tc.cmd, err, tc.words)
		}
	}
}
