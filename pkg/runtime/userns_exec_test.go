package runtime_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Exec joins the user namespace first (nsenter), then becomes its root.
func TestExecIntoUserNamespace(t *testing.T) {
	b := sh(t, "echo started; read x")
	b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	b.Spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	b.Spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	if err := chownTree(filepath.Join(b.Dir, "rootfs"), 100000); err != nil {
		t.Fatal(err)
	}
	for d := b.Dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	rt := newRuntime(t)
	c, in := startWaiting(t, rt, b)
	defer in.Close()
	p, outR := execPiped(t, c, "/", "id -u; cat /proc/self/uid_map; touch /tmp/by-exec && echo wrote")
	out, _ := io.ReadAll(outR)
	st, _ := p.Wait()
	if st.ExitCode() != 0 || !strings.HasPrefix(string(out), "0\n") || !strings.Contains(string(out), "100000") || !strings.Contains(string(out), "wrote") {
		t.Fatalf("exec in userns: %d %q", st.ExitCode(), out)
	}
}
