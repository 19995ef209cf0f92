package executor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	bk "github.com/moby/buildkit/executor"
	"github.com/moby/buildkit/solver/pb"
)

func TestRunUlimits(t *testing.T) {
	e := newTestExecutor(t, Options{})
	out, stderr, err := runStep(t, e, bk.Meta{Args: sh("ulimit -Sn; ulimit -Hn"), Ulimit: []*pb.Ulimit{{Name: "nofile", Soft: 321, Hard: 654}}})
	if err != nil || out != "321\n654\n" {
		t.Errorf("ulimits: %v %q %q, want 321 and 654", err, out, stderr)
	}
}

// Steps' cgroups are Parent/buildkit/<id>, and go with the step.
func TestRunCgroupParent(t *testing.T) {
	parent := "berth-bkexec-parent-" + filepath.Base(t.TempDir())
	e := newTestExecutor(t, Options{CgroupParent: parent})
	cancel, done := longStep(t, e, "parented", nil, "sleep 1000")
	dir := cgroupDir(t, "/"+parent+"/buildkit/parented")
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the step's cgroup is not at %s: %v", dir, err)
	}
	cancel()
	awaitRun(t, done)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the step's cgroup remains: %v", err)
	}
}

// A step killed for memory says so.
func TestRunOutOfMemory(t *testing.T) {
	e := newTestExecutor(t, Options{})
	_, _, err := runStep(t, e, bk.Meta{
		Args:           sh(`x=$(head -c 100000000 /dev/zero | tr '\0' a); echo ${#x}`),
		LinuxResources: &pb.LinuxResources{Memory: 16 << 20, MemorySwap: 16 << 20},
	})
	if exitCode(t, err) != 137 || !errors.Is(err, syscall.ENOMEM) {
		t.Errorf("step over its memory limit: %v, want exit code 137 and ENOMEM", err)
	}
}

// A new executor on the root of one whose daemon died ends that one's
// steps: their processes, cgroups and mounts.
func TestNewRemovesLeftoverSteps(t *testing.T) {
	e := newTestExecutor(t, Options{})
	_, done := longStep(t, e, "orphan", nil, "sleep 1000")
	if _, err := New(Options{Root: e.root, CgroupParent: e.cgroupParent}); err != nil {
		t.Fatal(err)
	}
	if !cgroupGone(t, e, "orphan") {
		t.Error("the leftover step's cgroup remains")
	}
	if ms := mountsUnder(t, e.root); len(ms) > 0 {
		t.Errorf("left mounted: %v", ms)
	}
	if err := awaitRun(t, done); exitCode(t, err) != 137 {
		t.Errorf("the leftover step ended with %v, want killed", err)
	}
}

func TestExecTTY(t *testing.T) {
	e := newTestExecutor(t, Options{})
	longStep(t, e, "ttyexec", nil, "sleep 1000")
	var out safeBuffer
	err := e.Exec(t.Context(), "ttyexec", bk.ProcessInfo{Meta: bk.Meta{Args: []string{"tty"}, Tty: true}, Stdout: &out})
	if err != nil || !strings.HasPrefix(out.String(), "/dev/pts/") {
		t.Errorf("exec with a terminal: %v %q", err, out.String())
	}
}
