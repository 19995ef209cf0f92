package procns

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A child started in a new PID namespace's is that namespace's: it has
// a PID there beside its own.
func TestStartInPIDNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	holder := exec.Command("unshare", "--pid", "--fork", "sleep", "30")
	holder.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Kill(-holder.Process.Pid, unix.SIGKILL); holder.Wait() })
	var inner int
	for inner == 0 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", holder.Process.Pid, holder.Process.Pid))
		if f := strings.Fields(string(b)); len(f) > 0 {
			inner, _ = strconv.Atoi(f[0])
		}
	}
	out, err := func() ([]byte, error) {
		cmd := exec.Command("grep", "^NSpid:", "/proc/self/status")
		var b strings.Builder
		cmd.Stdout = &b
		if err := StartInPIDNamespace(cmd, inner); err != nil {
			return nil, err
		}
		err := cmd.Wait()
		return []byte(b.String()), err
	}()
	if err != nil {
		t.Fatal(err)
	}
	// Two PIDs: the host's and the namespace's.
	if _, nspid, _ := strings.Cut(string(out), "NSpid:"); len(strings.Fields(nspid)) != 2 {
		t.Fatalf("%s", out)
	}
}
