package nsenter_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/nsenter"
)

// The child half of the tests below: print this process's cgroups.
func TestMain(m *testing.M) {
	if os.Getenv("NSENTER_TEST_CHILD") != "" {
		b, _ := os.ReadFile("/proc/self/cgroup")
		os.Stdout.Write(b)
		// The constructor removed its variable before Go started.
		fmt.Printf("env=%q\n", os.Getenv(nsenter.EnvCgroupTasks))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(t *testing.T, tasks string) (stdout, fd3 string, err error) {
	t.Helper()
	r, w, perr := os.Pipe()
	if perr != nil {
		t.Fatal(perr)
	}
	defer r.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "NSENTER_TEST_CHILD=1", nsenter.EnvCgroupTasks+"="+tasks)
	cmd.ExtraFiles = []*os.File{w}
	out, err := cmd.Output()
	w.Close()
	b, _ := io.ReadAll(r)
	return string(out), string(b), err
}

// A tasks file that cannot be written fails the process before Go runs,
// with the reason as the JSON error message a stage's parent reads on fd 3.
func TestCgroupJoinFailureIsReported(t *testing.T) {
	_, fd3, err := child(t, "/nonexistent/berth/tasks")
	if err == nil {
		t.Fatal("child ran although its cgroup could not be joined")
	}
	var msg struct{ Type, Error string }
	if jerr := json.Unmarshal([]byte(fd3), &msg); jerr != nil || msg.Type != "error" ||
		msg.Error != "join cgroup /nonexistent/berth/tasks: No such file or directory" {
		t.Fatalf("fd 3: %q (%v)", fd3, jerr)
	}
}

// The process starts in the listed cgroups.
func TestCgroupJoin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if cgroups.IsV2() {
		t.Skip("self-join is for cgroup v1 hierarchies")
	}
	name := fmt.Sprintf("/berth-nsenter-test-%d", os.Getpid())
	cg, err := cgroups.New(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := cg.Apply(0); err != nil {
		t.Fatal(err)
	}
	defer cg.Destroy()
	files := cg.(cgroups.SelfJoiner).TaskFiles()
	out, fd3, err := child(t, strings.Join(files, "\n"))
	if err != nil {
		t.Fatalf("child: %v %s", err, fd3)
	}
	// Every v1 hierarchy line ("N:controllers:path") names the cgroup.
	joined := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[1] == "" {
			continue
		}
		if f[2] != name {
			t.Errorf("%s: in %s, want %s", f[1], f[2], name)
		}
		joined++
	}
	if joined != len(files) {
		t.Errorf("%d hierarchies joined, %d tasks files: %s", joined, len(files), out)
	}
	if !strings.Contains(out, `env=""`) {
		t.Errorf("variable left in the environment: %s", out)
	}
}
