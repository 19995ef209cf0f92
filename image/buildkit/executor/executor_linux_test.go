package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bk "github.com/moby/buildkit/executor"
	gatewaypb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	"io"
)

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *gatewaypb.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v (%T) is not an ExitError", err, err)
	}
	return int(ee.ExitCode)
}

func TestRunExitCodes(t *testing.T) {
	e := newTestExecutor(t, Options{})
	for _, tc := range []struct {
		script string
		valid  []int
		want   int
		ok     bool
	}{
		{script: "true", want: 0, ok: true},
		{script: "exit 3", want: 3},
		{script: "exit 3", valid: []int{0, 3}, want: 0, ok: true},
	} {
		_, _, err := runStep(t, e, bk.Meta{Args: sh(tc.script), ValidExitCodes: tc.valid})
		if (err == nil) != tc.ok || exitCode(t, err) != tc.want {
			t.Errorf("%q (valid %v): error %v, want exit code %d", tc.script, tc.valid, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "exit code: 3") && tc.want == 3 {
			t.Errorf("%q: message %q lacks the exit code", tc.script, err)
		}
	}
}

func TestRunEnvUserCwd(t *testing.T) {
	e := newTestExecutor(t, Options{})
	for _, tc := range []struct{ user, want string }{
		{"", "0 0"},
		{"nobody", "65534 65534"},
		{"1000:1001", "1000 1001"},
		{"nobody:root", "65534 0"},
	} {
		out, stderr, err := runStep(t, e, bk.Meta{
			Args: sh(`echo "$FOO" $(id -u) $(id -g) $(pwd) $(stat -c %u /made/for/step)`),
			Env:  append([]string{"FOO=bar baz"}, testPath...), User: tc.user, Cwd: "/made/for/step",
		})
		if err != nil {
			t.Fatalf("user %q: %v (%s)", tc.user, err, stderr)
		}
		uid := strings.Fields(tc.want)[0]
		if want := "bar baz " + tc.want + " /made/for/step " + uid + "\n"; out != want {
			t.Errorf("user %q: output %q, want %q", tc.user, out, want)
		}
	}
	_, _, err := runStep(t, e, bk.Meta{Args: []string{"nosuchcommand"}})
	if exitCode(t, err) != int(gatewaypb.UnknownExitStatus) || !strings.Contains(err.Error(), `"nosuchcommand": executable file not found`) {
		t.Errorf("a missing command: error %v", err)
	}
	if _, _, err := runStep(t, e, bk.Meta{Args: []string{"true"}, User: "nosuchuser"}); err == nil || !strings.Contains(err.Error(), "nosuchuser") {
		t.Errorf("an unknown user: error %v", err)
	}
}

func TestRunReadonlyRoot(t *testing.T) {
	e := newTestExecutor(t, Options{})
	_, stderr, err := runStep(t, e, bk.Meta{Args: sh("touch /x"), ReadonlyRootFS: true})
	if exitCode(t, err) != 1 || !strings.Contains(stderr, "Read-only file system") {
		t.Errorf("touch on a read-only root: %v %q", err, stderr)
	}
	if _, stderr, err := runStep(t, e, bk.Meta{Args: sh("touch /x")}); err != nil {
		t.Errorf("touch on a writable root: %v %q", err, stderr)
	}
}

func TestRunBindAndTmpfsMounts(t *testing.T) {
	e := newTestExecutor(t, Options{})
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "in"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	ro := t.TempDir()
	tmpfs := hostMount{{Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "size=1m"}}}
	out, stderr, err := runStep(t, e, bk.Meta{Args: sh(`cat /data/in; echo from step > /data/out; grep -c ' /scratch tmpfs ' /proc/mounts; touch /ro/x 2>/dev/null || echo ro`)},
		bk.Mount{Src: bindOf(data), Dest: "/data"},
		bk.Mount{Src: tmpfs, Dest: "/scratch"},
		bk.Mount{Src: bindOf(ro), Dest: "/ro", Readonly: true},
	)
	if err != nil {
		t.Fatalf("%v (%s)", err, stderr)
	}
	if out != "from host1\nro\n" {
		t.Errorf("output %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "out")); string(b) != "from step\n" {
		t.Errorf("the bind mount's write reached the host as %q", b)
	}
	// BuildKit's stub cleaner removes the mount points the step's mounts
	// needed in a root that lacked them.
	if _, err := os.Stat(filepath.Join(data, "scratch")); err == nil {
		t.Error("a mount point leaked into the bind source")
	}
}

func TestRunNetworkModes(t *testing.T) {
	e := newTestExecutor(t, Options{})
	out, _, err := runStep(t, e, bk.Meta{Args: sh("ls /sys/class/net"), NetMode: pb.NetMode_NONE})
	if err != nil || strings.Fields(out)[0] != "lo" || len(strings.Fields(out)) != 1 {
		t.Errorf("none: %v, interfaces %q, want lo alone", err, out)
	}
	host, _ := os.ReadDir("/sys/class/net")
	out, _, err = runStep(t, e, bk.Meta{Args: sh("ls /sys/class/net"), NetMode: pb.NetMode_HOST})
	if err != nil || len(strings.Fields(out)) != len(host) {
		t.Errorf("host: %v, interfaces %q, want the host's %d", err, out, len(host))
	}
	_, err = e.Run(context.Background(), "", testRoot(t), nil, bk.ProcessInfo{Meta: bk.Meta{Args: []string{"true"}, Cwd: "/"}}, nil)
	if err == nil {
		t.Error("the default network ran without a provider")
	}
}

func TestRunHostsAndResolvConf(t *testing.T) {
	e := newTestExecutor(t, Options{DNS: &DNS{Nameservers: []string{"192.0.2.53"}, Search: []string{"build.test"}}})
	out, stderr, err := runStep(t, e, bk.Meta{
		Args: sh("cat /etc/resolv.conf /etc/hosts; hostname"), NetMode: pb.NetMode_NONE, Hostname: "stephost",
		ExtraHosts: []bk.HostIP{{Host: "extra.test", IP: []byte{192, 0, 2, 7}}},
	})
	if err != nil {
		t.Fatalf("%v (%s)", err, stderr)
	}
	for _, want := range []string{"nameserver 192.0.2.53", "search build.test", "192.0.2.7\textra.test", "stephost\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// A sandboxed step is confined like a container; security.insecure
// lifts it.
func TestRunConfinement(t *testing.T) {
	e := newTestExecutor(t, Options{})
	script := `grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status | tr -s '\t' ' '; wc -c < /proc/interrupts; echo pid $$`
	out, stderr, err := runStep(t, e, bk.Meta{Args: sh(script)})
	if err != nil {
		t.Fatalf("%v (%s)", err, stderr)
	}
	// /proc/interrupts is masked (a host file that reads as empty).
	for _, want := range []string{"CapEff: 00000000a80425fb", "NoNewPrivs: 0", "Seccomp: 2", "\n0\n", "pid 1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("sandboxed step lacks %q:\n%s", want, out)
		}
	}
	// Nothing of the daemon's is open in the step: ls's own directory
	// (3) is the only descriptor beyond stdio.
	if out, _, err := runStep(t, e, bk.Meta{Args: []string{"ls", "/proc/self/fd"}}); err != nil || strings.Fields(out)[len(strings.Fields(out))-1] != "3" || len(strings.Fields(out)) != 4 {
		t.Errorf("step's descriptors: %v %q, want 0 1 2 3", err, out)
	}
	out, stderr, err = runStep(t, e, bk.Meta{Args: sh(script), SecurityMode: pb.SecurityMode_INSECURE})
	if err != nil {
		t.Fatalf("%v (%s)", err, stderr)
	}
	if !strings.Contains(out, "Seccomp: 0") || strings.Contains(out, "CapEff: 00000000a80425fb") {
		t.Errorf("insecure step is confined:\n%s", out)
	}
}

func TestRunStdio(t *testing.T) {
	e := newTestExecutor(t, Options{})
	var stdout, stderr safeBuffer
	_, err := e.Run(context.Background(), "", testRoot(t), nil, bk.ProcessInfo{
		Meta:  bk.Meta{Args: sh("cat; echo oops >&2"), Env: testPath, Cwd: "/", NetMode: pb.NetMode_NONE},
		Stdin: io.NopCloser(strings.NewReader("hello\n")), Stdout: &stdout, Stderr: &stderr,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "hello\n" || stderr.String() != "oops\n" {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

func TestRunTTY(t *testing.T) {
	e := newTestExecutor(t, Options{})
	out, _, err := runStep(t, e, bk.Meta{Args: sh("tty; stty size"), Tty: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "/dev/pts/") {
		t.Errorf("tty output %q", out)
	}
	// A terminal whose output nobody asked for is still drained.
	meta := stepMeta(sh("head -c 1000000 /dev/zero"))
	meta.Tty, meta.NetMode = true, pb.NetMode_NONE
	if _, err := e.Run(context.Background(), "", testRoot(t), nil, bk.ProcessInfo{Meta: meta}, nil); err != nil {
		t.Errorf("tty step without stdout: %v", err)
	}
}
