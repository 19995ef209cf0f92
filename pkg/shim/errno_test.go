package shim_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/runtime/bundletest"
	"github.com/berthd/berth/pkg/shim"
)

// The errno of an exec that could not start its command reaches the
// shim's client, with the runtime's words: the daemon classifies by it.
func TestShimExecFailureCarriesErrno(t *testing.T) {
	c, _ := launch(t, bundletest.New(t, "sleep", "30"), nil)
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		cmd   string
		errno syscall.Errno
		words string
	}{
		{"nosuchcmd", syscall.ENOENT, "executable file not found in $PATH"},
		{"/etc/passwd", syscall.EACCES, "permission denied"},
	} {
		for _, tty := range []bool{false, true} {
			p := specs.Process{Args: []string{tc.cmd}, Env: []string{"PATH=/bin"}, Cwd: "/", Terminal: tty}
			s, err := c.Exec(ctx, fmt.Sprintf("e%d-%v", i, tty), p)
			if err == nil {
				s.Close()
				t.Fatalf("exec %s (tty %v) started", tc.cmd, tty)
			}
			if !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), tc.words) {
				t.Errorf("exec %s (tty %v): %v (errno %v), want %v with %q", tc.cmd, tty, err, errors.Is(err, tc.errno), tc.errno, tc.words)
			}
		}
	}
}

// A container whose command does not exist fails its launch with the
// errno, through the shim's ready pipe.
func TestShimLaunchFailureCarriesErrno(t *testing.T) {
	b := bundletest.New(t, "nosuchcmd")
	dir := t.TempDir()
	cfg := shim.Config{ID: "errno-" + filepath.Base(dir), Bundle: b.Dir, Spec: b.Spec, RuntimeRoot: filepath.Join(dir, "runtime")}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := shim.Launch(ctx, launchOpts(dir, cfg))
	if err == nil {
		t.Fatal("launched a container whose command does not exist")
	}
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), `exec: "nosuchcmd": executable file not found in $PATH`) {
		t.Fatalf("launch: %v, want ENOENT with the runtime's words", err)
	}
	if strings.HasPrefix(err.Error(), "error") {
		t.Fatalf("launch error %q keeps the ready line's prefix", err)
	}
}
