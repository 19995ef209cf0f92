package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/image/tarexport/archivetest"
	"github.com/berthd/berth/integration/internal/harness"
)

// realDockerd is a dockerd (Debian's docker.io) started for one test on
// its own socket, data-root, exec-root and pidfile, with no bridge and no
// netfilter rules, so it never touches the host's daemon or network.
type realDockerd struct {
	root, sock string
	cmd        *exec.Cmd
	done       chan struct{}
}

func startDockerd(t *testing.T) *realDockerd {
	t.Helper()
	bin, err := exec.LookPath("dockerd")
	harness.Require(t, err == nil, "dockerd (Debian package docker.io)")
	if err != nil {
		return nil
	}
	// Short: the sockets of dockerd and its containerd live below it.
	root, err := os.MkdirTemp("", "bd-")
	if err != nil {
		t.Fatal(err)
	}
	r := &realDockerd{root: root, sock: filepath.Join(root, "d.sock"), done: make(chan struct{})}
	os.WriteFile(filepath.Join(root, "daemon.json"), []byte("{}"), 0o644)
	logf, _ := os.Create(filepath.Join(root, "dockerd.log"))
	r.cmd = exec.Command(bin,
		"-H", "unix://"+r.sock,
		"--data-root", filepath.Join(root, "data"),
		"--exec-root", filepath.Join(root, "exec"),
		"--pidfile", filepath.Join(root, "d.pid"),
		"--config-file", filepath.Join(root, "daemon.json"),
		"--bridge=none", "--iptables=false", "--ip6tables=false")
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); logf.Close(); close(r.done) }()
	t.Cleanup(func() { r.stop(t) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := r.client().Get("http://d/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return r
			}
		}
		select {
		case <-r.done:
			b, _ := os.ReadFile(filepath.Join(root, "dockerd.log"))
			t.Fatalf("dockerd exited during start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("dockerd did not answer /_ping in 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// children lists the PIDs whose parent is pid.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// stop ends dockerd by its PID and then the containerd it started (its
// child), by PID too, then removes its root.
func (r *realDockerd) stop(t *testing.T) {
	pid := r.cmd.Process.Pid
	kids := children(pid)
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		<-r.done
	}
	for _, k := range kids {
		for i := 0; i < 100 && syscall.Kill(k, 0) == nil; i++ {
			if i == 50 {
				syscall.Kill(k, syscall.SIGKILL)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	harness.UnmountUnder(r.root)
	if t.Failed() {
		b, _ := os.ReadFile(filepath.Join(r.root, "dockerd.log"))
		lines := strings.Split(string(b), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		t.Logf("dockerd log tail:\n%s", strings.Join(lines, "\n"))
	}
	os.RemoveAll(r.root)
}

func (r *realDockerd) client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", r.sock)
	}}}
}

// docker runs the docker CLI against this dockerd.
func (r *realDockerd) docker(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+r.sock, "DOCKER_CONFIG="+filepath.Join(r.root, "cli"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker %s (dockerd): %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func getJSON(t *testing.T, c *http.Client, url string) map[string]any {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// compareInspect checks that berth's and dockerd's inspect of the same
// image agree on the fields the issue names, at the API version dockerd
// 20.10 speaks (1.41), and that berth's 1.50 Config is dockerd's without
// the fields v1.50 dropped. Other differing top-level fields are logged.
func compareInspect(t *testing.T, dd *realDockerd, ref string) {
	t.Helper()
	theirs := getJSON(t, dd.client(), "http://d/v1.41/images/"+ref+"/json")
	ours := getJSON(t, d.HTTPClient(), "http://x/v1.41/images/"+ref+"/json")
	for _, k := range []string{"Id", "RootFS", "Config", "Architecture", "Os", "Size", "VirtualSize", "ContainerConfig", "Container", "Parent", "Comment", "Author", "DockerVersion", "Created"} {
		if !reflect.DeepEqual(theirs[k], ours[k]) {
			a, _ := json.Marshal(theirs[k])
			b, _ := json.Marshal(ours[k])
			t.Errorf("%s: inspect %s differs at API 1.41:\n  dockerd: %s\n  berthd:  %s", ref, k, a, b)
		}
	}
	var other []string
	for k := range theirs {
		if _, ok := ours[k]; !ok {
			other = append(other, k+" (only dockerd)")
		} else if !reflect.DeepEqual(theirs[k], ours[k]) {
			other = append(other, k)
		}
	}
	for k := range ours {
		if _, ok := theirs[k]; !ok {
			other = append(other, k+" (only berthd)")
		}
	}
	sort.Strings(other)
	t.Logf("%s: inspect fields that differ or exist on one side only (expected: IDs of storage, paths, times, fields newer than API 1.41): %v", ref, other)

	cur := getJSON(t, d.HTTPClient(), "http://x/v1.50/images/"+ref+"/json")
	want := map[string]any{}
	for k, v := range theirs["Config"].(map[string]any) {
		want[k] = v
	}
	for _, k := range []string{"Hostname", "Domainname", "AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce", "Image"} {
		delete(want, k)
	}
	if !reflect.DeepEqual(want, cur["Config"]) {
		a, _ := json.Marshal(want)
		b, _ := json.Marshal(cur["Config"])
		t.Errorf("%s: Config at API 1.50:\n  want: %s\n  got:  %s", ref, a, b)
	}
	for _, k := range []string{"Id", "RootFS", "Architecture", "Os", "Size"} {
		if !reflect.DeepEqual(theirs[k], cur[k]) {
			t.Errorf("%s: %s at API 1.50 differs from dockerd's", ref, k)
		}
	}
}

// A save from berth loads into dockerd with the same IDs, and both show
// the same image the same way.
func TestDockerdLoadsBerthSave(t *testing.T) {
	dd := startDockerd(t)
	dir := t.TempDir()
	id2 := load(t, "it-compat-bb:2", true)
	rnd, idr, _, err := archivetest.RandomImage(dir, "rnd", "it-compat-rnd:1", 41, 3, 3, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	d.DockerT(t, "load", "-i", rnd)
	saved := filepath.Join(dir, "berth.tar")
	d.DockerT(t, "save", "-o", saved, "it-compat-bb:2", "it-compat-rnd:1")
	out := dd.docker(t, "load", "-i", saved)
	if !strings.Contains(out, "Loaded image: it-compat-bb:2") || !strings.Contains(out, "Loaded image: it-compat-rnd:1") {
		t.Fatalf("dockerd load: %s", out)
	}
	for ref, id := range map[string]string{"it-compat-bb:2": id2, "it-compat-rnd:1": idr} {
		if got := strings.TrimSpace(dd.docker(t, "inspect", "-f", "{{.Id}}", ref)); got != id {
			t.Fatalf("dockerd has %s as %s, berth as %s", ref, got, id)
		}
		compareInspect(t, dd, ref)
	}
	// The "Loading layer" progress of the same archive: the same layers
	// with the same sizes as dockerd reports.
	d.DockerT(t, "rmi", "it-compat-bb:2", "it-compat-rnd:1")
	dd.docker(t, "rmi", "it-compat-bb:2", "it-compat-rnd:1")
	ours := finalProgress(t, loadStream(t, d.HTTPClient(), saved, false))
	theirs := finalProgress(t, loadStream(t, dd.client(), saved, false))
	if !reflect.DeepEqual(ours, theirs) {
		t.Errorf("load progress differs:\n  dockerd: %v\n  berthd:  %v", theirs, ours)
	}
	d.DockerT(t, "rmi", "it-compat-bb:2", "it-compat-rnd:1")
}

// A save from dockerd (20.10 writes the legacy layout: <v1 id>/layer.tar,
// json, VERSION) loads into berth with the same IDs, including an image
// dockerd made itself with docker import.
func TestBerthLoadsDockerdSave(t *testing.T) {
	harness.Require(t, fileExists("/bin/busybox"), "/bin/busybox (busybox-static)")
	dd := startDockerd(t)
	dir := t.TempDir()
	p, id := d.WriteTestImage(t, "it-fromdockerd:1", true)
	dd.docker(t, "load", "-i", p)
	// A rootfs with a symlink, a hard link and an empty directory: the
	// layer size must be counted as dockerd counts it.
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "empty"), 0o755)
	bb, _ := os.ReadFile("/bin/busybox")
	os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755)
	os.Symlink("busybox", filepath.Join(root, "bin", "sh"))
	os.Link(filepath.Join(root, "bin", "busybox"), filepath.Join(root, "bin", "ls"))
	rootfs := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", rootfs, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	imported := strings.TrimSpace(dd.docker(t, "import", "--change", `CMD ["sh"]`, "--change", "ENV A=b", "-m", "made by dockerd", rootfs, "it-imported-by-dockerd:1"))
	saved := filepath.Join(dir, "dockerd.tar")
	dd.docker(t, "save", "-o", saved, "it-fromdockerd:1", "it-imported-by-dockerd:1")
	out := d.DockerT(t, "load", "-i", saved)
	if !strings.Contains(out, "Loaded image: it-fromdockerd:1") || !strings.Contains(out, "Loaded image: it-imported-by-dockerd:1") {
		t.Fatalf("berth load: %s", out)
	}
	for ref, want := range map[string]string{"it-fromdockerd:1": id, "it-imported-by-dockerd:1": imported} {
		if got := inspectID(t, ref); got != want {
			t.Fatalf("berth has %s as %s, dockerd as %s", ref, got, want)
		}
		compareInspect(t, dd, ref)
	}
	// And back: berth's save of dockerd's images loads into dockerd again.
	dd.docker(t, "rmi", "it-fromdockerd:1", "it-imported-by-dockerd:1")
	back := filepath.Join(dir, "back.tar")
	d.DockerT(t, "save", "-o", back, "it-fromdockerd:1", "it-imported-by-dockerd:1")
	dd.docker(t, "load", "-i", back)
	if got := strings.TrimSpace(dd.docker(t, "inspect", "-f", "{{.Id}}", "it-imported-by-dockerd:1")); got != imported {
		t.Fatalf("round trip through berth changed the ID: %s, want %s", got, imported)
	}
	d.DockerT(t, "rmi", "it-fromdockerd:1", "it-imported-by-dockerd:1")
}
