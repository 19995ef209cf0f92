package v2test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/cgroups"
	"github.com/berthd/berth/pkg/runtime"
	"github.com/berthd/berth/pkg/runtime/bundletest"
)

const envInside = "BERTH_V2TEST_INSIDE"

func TestMain(m *testing.M) {
	// The binary is also the init stage of the containers it runs.
	runtime.InitStage()
	if os.Getenv(envInside) == "" {
		os.Exit(reexecInPrivateNamespace())
	}
	if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, ""); err != nil {
		fmt.Fprintln(os.Stderr, "mount cgroup2 on /sys/fs/cgroup:", err)
		os.Exit(1)
	}
	if !cgroups.IsV2() {
		fmt.Fprintln(os.Stderr, "pkg/cgroups does not see cgroup v2")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// reexecInPrivateNamespace runs this test binary again with the same
// arguments in a new mount namespace (unshare(1)), whose mounts go away
// with it.
func reexecInPrivateNamespace() int {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "the cgroup v2 tests need root")
			return 1
		}
		fmt.Println("skipping: the cgroup v2 tests need root")
		return 0
	}
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), envInside+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// A container on v2 starts in its own cgroup (created there by clone3,
// never moved), under the device filter, can be paused and resumed, and
// its cgroup is gone after delete.
func TestContainerOnCgroupV2(t *testing.T) {
	b := bundletest.New(t, "sh", "-c", "cat /proc/self/cgroup; head -c1 /dev/null && echo null-ok; mknod /tmp/kmsg c 1 11 && (echo x > /tmp/kmsg) 2>&1; read x; echo resumed")
	rt := runtime.New(t.TempDir())
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := rt.Create(ctx, runtime.CreateOpts{ID: fmt.Sprintf("v2-%d", os.Getpid()), Bundle: b.Dir, Spec: b.Spec, Stdin: inR, Stdout: outW, Stderr: outW})
	inR.Close()
	outW.Close()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	dir := "/sys/fs/cgroup" + b.Spec.Linux.CgroupsPath
	defer func() {
		inW.Close()
		_ = c.Delete(true)
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left after delete: %v", dir, err)
		}
	}()
	procs, err := os.ReadFile(dir + "/cgroup.procs")
	if err != nil || strings.TrimSpace(string(procs)) != fmt.Sprint(c.Pid()) {
		t.Fatalf("cgroup.procs %q (%v), want the init %d", procs, err, c.Pid())
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&out, outR); close(done) }()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.Pause(); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if f, _ := os.ReadFile(dir + "/cgroup.freeze"); strings.TrimSpace(string(f)) != "1" {
		t.Errorf("cgroup.freeze %q after pause", f)
	}
	if err := c.Resume(); err != nil {
		t.Fatalf("resume: %v", err)
	}
	fmt.Fprintln(inW, "go")
	if _, err := c.Init.Wait(); err != nil {
		t.Fatal(err)
	}
	<-done
	got := out.String()
	// Inside its cgroup namespace the container sees its cgroup as "/".
	if !strings.Contains(got, "0::/\n") || !strings.Contains(got, "null-ok") || !strings.Contains(got, "resumed") {
		t.Errorf("container output:\n%s", got)
	}
	if !strings.Contains(got, "Operation not permitted") {
		t.Errorf("a kmsg device node (c 1:11) was writable under the device filter:\n%s", got)
	}
}
