package container

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/berthd/berth/integration/internal/harness"
)

// Behaviours moby's own integration suite checks (issue 17), through the
// Go client and plain HTTP as that suite does.

func compatClient(t *testing.T) *client.Client {
	t.Helper()
	setup(t, d)
	c, err := d.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func compatCreate(t *testing.T, c *client.Client, cfg *container.Config, hc *container.HostConfig) string {
	t.Helper()
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	k, v, _ := strings.Cut(testLabel(t), "=")
	cfg.Labels[k] = v
	res, err := c.ContainerCreate(context.Background(), client.ContainerCreateOptions{Config: cfg, HostConfig: hc})
	if err != nil {
		t.Fatal(err)
	}
	return res.ID
}

func compatMessage(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Message string }
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	return e.Message
}

// TestCompatAttachMediaType: a non-TTY attach is announced as multiplexed
// (the API version came from the request's path, not its context).
func TestCompatAttachMediaType(t *testing.T) {
	c := compatClient(t)
	for tty, want := range map[bool]string{false: "application/vnd.docker.multiplexed-stream", true: "application/vnd.docker.raw-stream"} {
		id := compatCreate(t, c, &container.Config{Image: "busybox", Cmd: []string{"echo", "hi"}, Tty: tty}, nil)
		res, err := c.ContainerAttach(context.Background(), id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
		if err != nil {
			t.Fatal(err)
		}
		mt, _ := res.MediaType()
		res.Close()
		if mt != want {
			t.Errorf("tty=%v: media type %q, want %q", tty, mt, want)
		}
	}
}

// TestCompatAttachInvalidDetachKeys: detach key names are dockerd's,
// case-sensitive; a bad one is a 400 before the upgrade.
func TestCompatAttachInvalidDetachKeys(t *testing.T) {
	c := compatClient(t)
	id := compatCreate(t, c, &container.Config{Image: "busybox", Cmd: []string{"true"}}, nil)
	resp, body := d.Do(t, "POST", "/containers/"+id+"/attach?stream=1&stdout=1&detachKeys=ctrl-A,a", "")
	if resp.StatusCode != http.StatusBadRequest || compatMessage(t, body) != "Invalid detach keys (ctrl-A,a) provided" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// TestCompatExecTTYFraming: the start request's Tty decides the framing,
// the exec's own Tty the terminal (moby's client attaches a TTY exec with
// Tty false and reads it multiplexed); ConsoleSize sizes that terminal.
func TestCompatExecTTYFraming(t *testing.T) {
	c := compatClient(t)
	ctx := context.Background()
	id := compatCreate(t, c, &container.Config{Image: "busybox", Cmd: []string{"sleep", "60"}}, nil)
	if _, err := c.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	ex, err := c.ExecCreate(ctx, id, client.ExecCreateOptions{TTY: true, AttachStdout: true, AttachStderr: true,
		ConsoleSize: client.ConsoleSize{Height: 57, Width: 123}, Cmd: []string{"stty", "size"}})
	if err != nil {
		t.Fatal(err)
	}
	att, err := c.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, att.Reader); err != nil {
		t.Fatalf("not multiplexed: %v (%q)", err, out.String())
	}
	if got := strings.TrimSpace(out.String()); got != "57 123" {
		t.Fatalf("stty size %q (stderr %q)", got, errOut.String())
	}
}

// TestCompatRunConsoleSize: HostConfig.ConsoleSize sizes the container's
// terminal from its first instruction.
func TestCompatRunConsoleSize(t *testing.T) {
	c := compatClient(t)
	ctx := context.Background()
	id := compatCreate(t, c, &container.Config{Image: "busybox", Tty: true, Cmd: []string{"stty", "size"}},
		&container.HostConfig{ConsoleSize: [2]uint{57, 123}})
	wait := c.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wait.Result:
	case err := <-wait.Error:
		t.Fatal(err)
	}
	logs, err := c.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(logs)
	logs.Close()
	if got := strings.TrimSpace(b.String()); got != "57 123" {
		t.Fatalf("stty size %q", got)
	}
}

// TestCompatResizeErrors: dockerd's texts for bad sizes, and a conflict
// for an exec whose container has stopped (a SIGKILL answers once the
// container is down).
func TestCompatResizeErrors(t *testing.T) {
	c := compatClient(t)
	ctx := context.Background()
	id := compatCreate(t, c, &container.Config{Image: "busybox", Tty: true, Cmd: []string{"sleep", "60"}}, nil)
	if _, err := c.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		"w=10":              `invalid resize height "": invalid syntax`,
		"h=-100&w=10":       `invalid resize height "-100": value out of range`,
		"h=10&w=4294967296": `invalid resize width "4294967296": value out of range`,
		"h=10&w=x":          `invalid resize width "x": invalid syntax`,
	} {
		resp, body := d.Do(t, "POST", "/containers/"+id+"/resize?"+q, "")
		if resp.StatusCode != 400 || compatMessage(t, body) != want {
			t.Errorf("%s: %d %s, want %q", q, resp.StatusCode, body, want)
		}
	}
	ex, err := c.ExecCreate(ctx, id, client.ExecCreateOptions{TTY: true, Cmd: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecStart(ctx, ex.ID, client.ExecStartOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ContainerKill(ctx, id, client.ContainerKillOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); st.Container.State.Running {
		t.Fatal("still running once the SIGKILL was answered")
	}
	resp, body := d.Do(t, "POST", "/exec/"+ex.ID+"/resize?h=10&w=10", "")
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "is not running") {
		t.Fatalf("exec resize after kill: %d %s", resp.StatusCode, body)
	}
}

// TestCompatCreateValidation: dockerd's 400s at create, its defaults
// recorded, and its normalisation.
func TestCompatCreateValidation(t *testing.T) {
	c := compatClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		hc   container.HostConfig
		want string
	}{
		{container.HostConfig{IpcMode: "invalid"}, "invalid IPC mode: invalid"},
		{container.HostConfig{PidMode: "container"}, "invalid PID mode: container"},
		{container.HostConfig{UTSMode: "invalid"}, "invalid UTS mode: invalid"},
		{container.HostConfig{Annotations: map[string]string{"": "a"}}, "invalid Annotations: the empty string is not permitted as an annotation key"},
		{container.HostConfig{Links: []string{"compat-no-such"}}, "could not get container for compat-no-such: No such container: compat-no-such"},
		{container.HostConfig{VolumesFrom: []string{"compat-no-such"}}, "No such container: compat-no-such"},
	} {
		hc := tc.hc
		_, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox"}, HostConfig: &hc})
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) || !strings.Contains(err.Error(), "Error response from daemon") {
			t.Errorf("%+v: %v, want %q", tc.hc, err, tc.want)
		}
	}
	resp, body := d.Do(t, "POST", "/containers/create", "")
	if resp.StatusCode != 400 || compatMessage(t, body) != "invalid JSON: EOF" {
		t.Errorf("empty body: %d %s", resp.StatusCode, body)
	}
	id := compatCreate(t, c, &container.Config{Image: "busybox", WorkingDir: "/tmp/"}, nil)
	ins, err := c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ins.Container.Config.WorkingDir != "/tmp" {
		t.Errorf("WorkingDir %q", ins.Container.Config.WorkingDir)
	}
	if !contains(ins.Container.HostConfig.MaskedPaths, "/proc/kcore") || !contains(ins.Container.HostConfig.ReadonlyPaths, "/proc/sys") {
		t.Errorf("defaults not recorded: %v %v", ins.Container.HostConfig.MaskedPaths, ins.Container.HostConfig.ReadonlyPaths)
	}
	// Custom paths are the ones the container gets.
	id = compatCreate(t, c, &container.Config{Image: "busybox", Cmd: []string{"cat", "/proc/kcore", "/etc/hostname"}},
		&container.HostConfig{MaskedPaths: []string{"/etc/hostname"}, ReadonlyPaths: []string{}})
	out, _, _ := dockerRes(t, d, "start", "-a", id)
	if strings.TrimSpace(out) != "" {
		t.Errorf("custom masked path readable: %q", out)
	}
}

// TestCompatImageMountNoPanic: an image mount starts (no recovered panic;
// integration/volume's TestMiscImageMount tests what it shows), and --rm
// removes the container once it has run.
func TestCompatImageMountNoPanic(t *testing.T) {
	c := compatClient(t)
	ctx := context.Background()
	id := compatCreate(t, c, &container.Config{Image: "busybox", Cmd: []string{"true"}},
		&container.HostConfig{AutoRemove: true, Mounts: []mount.Mount{{Type: mount.TypeImage, Source: "busybox", Target: "/img"}}})
	_, err := c.ContainerStart(ctx, id, client.ContainerStartOptions{})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("--rm container left after its run")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCompatListCommandAndAnnotations: the list quotes arguments with
// spaces as dockerd does, and carries annotations from API 1.46 on.
func TestCompatListCommandAndAnnotations(t *testing.T) {
	c := compatClient(t)
	ctx := context.Background()
	id := compatCreate(t, c, &container.Config{Image: "busybox", Cmd: []string{"sh", "-c", "sleep 60"}},
		&container.HostConfig{Annotations: map[string]string{"foo": "bar"}})
	l, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("id", id)})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("list: %+v %v", l, err)
	}
	if l.Items[0].Command != "sh -c 'sleep 60'" {
		t.Errorf("Command %q", l.Items[0].Command)
	}
	if l.Items[0].HostConfig.Annotations["foo"] != "bar" {
		t.Errorf("annotations %v", l.Items[0].HostConfig.Annotations)
	}
	resp, body := d.Do(t, "GET", "/v1.45/containers/json?all=1&filters=%7B%22id%22%3A%5B%22"+id+"%22%5D%7D", "")
	if resp.StatusCode != 200 || strings.Contains(body, `"Annotations":`) {
		t.Errorf("1.45 list: %d %s", resp.StatusCode, body)
	}
}

// TestCompatRunMissingNetwork: a missing network fails the start, not the
// create, so the CLI reports it instead of trying to pull the image.
func TestCompatRunMissingNetwork(t *testing.T) {
	setup(t, d)
	_, stderr, code := dockerRes(t, d, "run", "--name", uniqueName(t, "a"), "--network", "compat-no-such-net", "busybox", "true")
	if code != 125 || !strings.Contains(stderr, "network compat-no-such-net not found") || strings.Contains(stderr, "Unable to find image") {
		t.Fatalf("run: %d %s", code, stderr)
	}
	if out := docker(t, "ps", "-a", "--filter", "name="+uniqueName(t, "a"), "--format", "{{.Status}}"); strings.TrimSpace(out) != "Created" {
		t.Fatalf("container after the failed start: %q", out)
	}
	// Restart policies cannot be set on --rm containers: a conflict.
	c := compatClient(t)
	id := compatCreate(t, c, &container.Config{Image: "busybox"}, &container.HostConfig{AutoRemove: true})
	_, err := c.ContainerUpdate(context.Background(), id, client.ContainerUpdateOptions{RestartPolicy: &container.RestartPolicy{Name: "always"}})
	if err == nil || !strings.Contains(err.Error(), "AutoRemove is enabled") {
		t.Fatalf("update: %v", err)
	}
	resp, _ := d.Do(t, "POST", "/containers/"+id+"/update", `{"RestartPolicy":{"Name":"always"}}`)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("update status %d", resp.StatusCode)
	}
}

// TestCompatPIDModeContainer: a missing PID container is a 400 at create,
// a stopped one fails the start with dockerd's text, and the link is kept
// by ID.
func TestCompatPIDModeContainer(t *testing.T) {
	c := compatClient(t)
	ctx := context.Background()
	_, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox"},
		HostConfig: &container.HostConfig{PidMode: "container:compat-no-such"}})
	if err == nil || !strings.HasSuffix(err.Error(), "No such container: compat-no-such") {
		t.Fatalf("create: %v", err)
	}
	resp, _ := d.Do(t, "POST", "/containers/create", `{"Image":"busybox","HostConfig":{"PidMode":"container:compat-no-such"}}`)
	if resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	name := uniqueName(t, "donor")
	donor := compatCreate(t, c, &container.Config{Image: "busybox"}, nil)
	if _, err := c.ContainerRename(ctx, donor, client.ContainerRenameOptions{NewName: name}); err != nil {
		t.Fatal(err)
	}
	id := compatCreate(t, c, &container.Config{Image: "busybox"}, &container.HostConfig{PidMode: container.PidMode("container:" + name)})
	ins, _ := c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if string(ins.Container.HostConfig.PidMode) != "container:"+donor {
		t.Errorf("PidMode %q", ins.Container.HostConfig.PidMode)
	}
	_, err = c.ContainerStart(ctx, id, client.ContainerStartOptions{})
	if err == nil || !strings.Contains(err.Error(), "failed to join PID namespace: container "+donor+" is not running") {
		t.Fatalf("start: %v", err)
	}
}

// TestCompatDefaultShmSize: --default-shm-size sizes /dev/shm of the
// containers that set none; dockerd's containerd flags are accepted.
func TestCompatDefaultShmSize(t *testing.T) {
	dd := fresh(t, harness.Options{Args: []string{"--default-shm-size=1024k", "--containerd", "/run/none.sock", "--containerd-namespace", "x"}})
	setup(t, dd)
	out := dockerOn(t, dd, "run", "--rm", "busybox", "df", "-k", "/dev/shm")
	if !strings.Contains(out, " 1024 ") {
		t.Fatalf("df /dev/shm: %s", out)
	}
	out = dockerOn(t, dd, "run", "--rm", "--shm-size", "2m", "busybox", "df", "-k", "/dev/shm")
	if !strings.Contains(out, " 2048 ") {
		t.Fatalf("df /dev/shm with --shm-size: %s", out)
	}
}

// TestCompatStartCheckpointID: a checkpoint ID that could leave its
// directory is refused before anything is looked up.
func TestCompatStartCheckpointID(t *testing.T) {
	resp, body := d.Do(t, "POST", "/containers/compat-missing/start?checkpoint=..%2Foutside", "")
	if resp.StatusCode != 400 || !strings.Contains(body, `invalid checkpoint ID \"../outside\"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// TestCompatCreatePlatform: create honours ?platform=: another platform's
// image is not found, a malformed one is a 400.
func TestCompatCreatePlatform(t *testing.T) {
	setup(t, d)
	for q, want := range map[string]int{"linux/arm64DifferentArch": 404, "linuxDifferentOS/amd64": 404, "foobar": 400, "linux": 201} {
		resp, body := d.Do(t, "POST", "/containers/create?platform="+q, `{"Image":"busybox","Labels":{"`+strings.Replace(testLabel(t), "=", `":"`, 1)+`"}}`)
		if resp.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", q, resp.StatusCode, body, want)
		}
	}
}

// TestCompatNetDefaults: a container's own network namespace has
// dockerd's ping and low-port sysctls, and on a user-defined network its
// hostname resolves through the embedded DNS (not listed as an alias).
func TestCompatNetDefaults(t *testing.T) {
	setup(t, d)
	out := docker(t, "run", "--rm", "-u", "1000:1000", "busybox", "cat", "/proc/sys/net/ipv4/ping_group_range", "/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if f := strings.Fields(out); len(f) != 3 || f[0] != "0" || f[1] != "2147483647" || f[2] != "0" {
		t.Fatalf("sysctls: %q", out)
	}
	net := uniqueName(t, "net")
	docker(t, "network", "create", net)
	t.Cleanup(func() { d.Docker("network", "rm", net) })
	name := uniqueName(t, "c")
	docker(t, "run", "-d", "--name", name, "--network", net, "--hostname", "compathost", "busybox", "sleep", "60")
	out = docker(t, "exec", name, "sh", "-c", "echo 127.0.0.1 localhost > /etc/hosts && nslookup compathost 127.0.0.11")
	if !strings.Contains(out, "Address: ") || strings.Count(out, "Address") < 2 {
		t.Fatalf("nslookup: %s", out)
	}
	aliases := docker(t, "inspect", "-f", "{{json (index .NetworkSettings.Networks \""+net+"\").Aliases}} {{json (index .NetworkSettings.Networks \""+net+"\").DNSNames}}", name)
	if strings.Contains(strings.Fields(aliases)[0], "compathost") || !strings.HasSuffix(strings.TrimSpace(aliases), `"compathost"]`) {
		t.Fatalf("aliases, DNS names: %s", aliases)
	}
}

// TestCompatSecurityOpts: a custom seccomp profile applies even with
// --privileged; writable-cgroups makes the cgroup mount writable; bad
// values fail the create with dockerd's text.
func TestCompatSecurityOpts(t *testing.T) {
	setup(t, d)
	// The CLI reads the profile from a file and sends its content.
	profile := filepath.Join(t.TempDir(), "profile.json")
	os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chown","chown32","fchownat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
	_, stderr, code := dockerRes(t, d, "run", "--rm", "--privileged", "--security-opt", "seccomp="+profile, "busybox", "chown", "42", "/bin/true")
	if code != 1 || !strings.Contains(stderr, "Operation not permitted") {
		t.Errorf("privileged with a custom profile: %d %s", code, stderr)
	}
	mkdir := `d=/sys/fs/cgroup/pids; [ -d $d ] || d=/sys/fs/cgroup; mkdir $d/compatfoo && rmdir $d/compatfoo`
	if _, stderr, code := dockerRes(t, d, "run", "--rm", "--security-opt", "writable-cgroups=true", "busybox", "sh", "-c", mkdir); code != 0 {
		t.Errorf("writable-cgroups: %d %s", code, stderr)
	}
	if _, _, code := dockerRes(t, d, "run", "--rm", "busybox", "sh", "-c", mkdir); code == 0 {
		t.Errorf("cgroups writable by default")
	}
	_, stderr, _ = dockerRes(t, d, "create", "--security-opt", "writable-cgroups=potato", "busybox")
	if !strings.Contains(stderr, `invalid --security-opt 2: "writable-cgroups=potato"`) {
		t.Errorf("bad value: %s", stderr)
	}
}

// TestCompatUpdatePidsLimit: 0 or any negative value lifts the limit (in
// the cgroup too); API versions before 1.40 cannot change it.
func TestCompatUpdatePidsLimit(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "p")
	docker(t, "run", "-d", "--name", name, "--pids-limit", "32", "busybox", "sleep", "60")
	pidsMax := `f=/sys/fs/cgroup/pids/pids.max; [ -f $f ] || f=/sys/fs/cgroup/pids.max; cat $f`
	if resp, body := d.Do(t, "POST", "/v1.24/containers/"+name+"/update", `{"PidsLimit":16}`); resp.StatusCode != 200 {
		t.Fatalf("1.24 update: %d %s", resp.StatusCode, body)
	}
	if got := strings.TrimSpace(docker(t, "inspect", "-f", "{{.HostConfig.PidsLimit}}", name)); got != "32" {
		t.Fatalf("1.24 changed the limit: %s", got)
	}
	if resp, body := d.Do(t, "POST", "/containers/"+name+"/update", `{"PidsLimit":-2}`); resp.StatusCode != 200 {
		t.Fatalf("update: %d %s", resp.StatusCode, body)
	}
	if got := strings.TrimSpace(docker(t, "inspect", "-f", "{{.HostConfig.PidsLimit}}", name)); got != "0" {
		t.Fatalf("PidsLimit %s", got)
	}
	if got := strings.TrimSpace(docker(t, "exec", name, "sh", "-c", pidsMax)); got != "max" {
		t.Fatalf("pids.max %s", got)
	}
}

// TestCompatRestartKeepsRmContainer: a restart of an --rm container does
// not remove it, and its new process starts even though the old exit's
// clean-up runs at the same time (repeated to catch the race).
func TestCompatRestartKeepsRmContainer(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "rm")
	docker(t, "run", "-d", "--rm", "--name", name, "busybox", "sh", "-c", "trap 'exit 5' TERM; while true; do sleep 0.1; done")
	for i := 0; i < 5; i++ {
		if _, stderr, code := dockerRes(t, d, "restart", "-t", "10", name); code != 0 {
			t.Fatalf("restart %d: %s", i, stderr)
		}
		if st := strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.Status}}", name)); st != "running" {
			t.Fatalf("after restart %d: %s", i, st)
		}
	}
	docker(t, "kill", name)
	for i := 0; i < 100; i++ {
		if _, _, code := dockerRes(t, d, "inspect", name); code != 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("--rm container left after its kill")
}

// TestCompatStopOutlivesItsRequest: a stop whose client gave up still
// kills the container once its timeout passes, as dockerd's does.
func TestCompatStopOutlivesItsRequest(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "s")
	docker(t, "run", "-d", "--name", name, "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done")
	hc := d.HTTPClient()
	hc.Timeout = 300 * time.Millisecond
	req, _ := http.NewRequest("POST", "http://engine/containers/"+name+"/stop?t=1", nil)
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("stop answered before its timeout: %d", resp.StatusCode)
	}
	for i := 0; i < 60; i++ {
		if strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.Running}}", name)) == "false" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the container outlived the abandoned stop")
}

// TestCompatMainThreadKeepsHostNamespace: the views of container files
// (docker cp, export) unshare a mount namespace on a thread of their own;
// none may be the daemon's main thread, or /proc/<daemon>/mountinfo (the
// cgroup discovery reads it) shows the view's mounts from then on.
func TestCompatMainThreadKeepsHostNamespace(t *testing.T) {
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	name := uniqueName(t, "cp")
	dockerOn(t, dd, "create", "--name", name, "busybox", "true")
	dst := t.TempDir()
	for i := 0; i < 30; i++ {
		dockerOn(t, dd, "cp", name+":/etc/passwd", filepath.Join(dst, fmt.Sprint(i)))
	}
	self, _ := os.Readlink("/proc/self/ns/mnt")
	leader, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", dd.Pid()))
	if err != nil || leader != self {
		t.Fatalf("daemon main thread in %s, host in %s (%v)", leader, self, err)
	}
	// And the daemon still finds the host's cgroups.
	dockerOn(t, dd, "run", "-d", "--name", name+"2", "busybox", "sleep", "30")
	dockerOn(t, dd, "update", "--memory", "64m", name+"2")
}
