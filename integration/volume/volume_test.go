package volume

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/volume"

	"github.com/berthd/berth/integration/internal/harness"
)

// uniq makes volume names unique per test so tests sharing the daemon do
// not see each other's volumes.
func uniq(t *testing.T, base string) string {
	return fmt.Sprintf("%s-%d", base, time.Now().UnixNano()%1_000_000_000)
}

func inspect(t *testing.T, dd *harness.Daemon, name string) volume.Volume {
	t.Helper()
	out := dd.DockerT(t, "volume", "inspect", name)
	var vols []volume.Volume
	if err := json.Unmarshal([]byte(out), &vols); err != nil || len(vols) != 1 {
		t.Fatalf("inspect %s: %v %s", name, err, out)
	}
	return vols[0]
}

func ls(t *testing.T, dd *harness.Daemon, filters ...string) []string {
	t.Helper()
	args := []string{"volume", "ls", "-q"}
	for _, f := range filters {
		args = append(args, "--filter", f)
	}
	out := strings.Fields(dd.DockerT(t, args...))
	slices.Sort(out)
	return out
}

// dockerErr runs a command that must fail and returns its stderr.
func dockerErr(t *testing.T, dd *harness.Daemon, args ...string) string {
	t.Helper()
	out, errOut, err := dd.Docker(args...)
	if err == nil {
		t.Fatalf("docker %s succeeded: %s", strings.Join(args, " "), out)
	}
	return strings.TrimSpace(errOut)
}

func rmAll(t *testing.T, dd *harness.Daemon, names ...string) {
	t.Cleanup(func() {
		dd.Docker(append([]string{"volume", "rm", "-f"}, names...)...)
	})
}

func TestCreateInspectRemove(t *testing.T) {
	name := uniq(t, "data")
	rmAll(t, d, name)
	if out := strings.TrimSpace(d.DockerT(t, "volume", "create", "--label", "app=web", "--label", "tier", name)); out != name {
		t.Fatalf("create printed %q", out)
	}
	v := inspect(t, d, name)
	if v.Driver != "local" || v.Scope != "local" || v.Labels["app"] != "web" || v.Labels["tier"] != "" ||
		v.Mountpoint != filepath.Join(d.DataRoot, "volumes", name, "_data") || v.CreatedAt == "" {
		t.Fatalf("inspect %+v", v)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
		t.Fatalf("mountpoint: %v", err)
	}
	if _, err := time.Parse(time.RFC3339, v.CreatedAt); err != nil {
		t.Errorf("CreatedAt %q: %v", v.CreatedAt, err)
	}
	// Creating again is idempotent, as with dockerd.
	d.DockerT(t, "volume", "create", name)
	if got := strings.TrimSpace(d.DockerT(t, "volume", "inspect", "-f", "{{.Name}} {{.Driver}}", name)); got != name+" local" {
		t.Fatalf("inspect -f %q", got)
	}
	d.DockerT(t, "volume", "rm", name)
	if _, err := os.Stat(filepath.Join(d.DataRoot, "volumes", name)); !os.IsNotExist(err) {
		t.Fatalf("data left after rm: %v", err)
	}
	if got := dockerErr(t, d, "volume", "rm", name); got != "Error response from daemon: get "+name+": no such volume" {
		t.Fatalf("rm missing: %q", got)
	}
	if got := dockerErr(t, d, "volume", "inspect", name); !strings.Contains(got, "get "+name+": no such volume") {
		t.Fatalf("inspect missing: %q", got)
	}
	// rm -f of a missing volume succeeds.
	d.DockerT(t, "volume", "rm", "-f", name)

	// An anonymous volume: a 64-hex name and the anonymous label.
	anon := strings.TrimSpace(d.DockerT(t, "volume", "create"))
	rmAll(t, d, anon)
	if len(anon) != 64 {
		t.Fatalf("anonymous name %q", anon)
	}
	if _, ok := inspect(t, d, anon).Labels["com.docker.volume.anonymous"]; !ok {
		t.Fatal("anonymous label missing")
	}
}

func TestCreateErrors(t *testing.T) {
	before := ls(t, d)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"volume", "create", "a"}, "Error response from daemon: create a: volume name is too short, names should be at least two alphanumeric characters"},
		{[]string{"volume", "create", "bad/name"}, `Error response from daemon: create bad/name: "bad/name" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{[]string{"volume", "create", "-o", "foo=bar", "badopt"}, `Error response from daemon: create badopt: invalid option: "foo"`},
		{[]string{"volume", "create", "-o", "type=tmpfs", "badopt"}, `Error response from daemon: create badopt: missing required option: "device"`},
		{[]string{"volume", "create", "-d", "nosuchplugin", "nodriver"}, `Error response from daemon: create nodriver: error looking up volume plugin nosuchplugin: plugin "nosuchplugin" not found`},
	} {
		if got := dockerErr(t, d, tc.args...); got != tc.want {
			t.Errorf("docker %s:\n got %q\nwant %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	if after := ls(t, d); !slices.Equal(before, after) {
		t.Fatalf("failed creates changed the volumes: %v → %v", before, after)
	}
	// A name taken by another driver.
	name := uniq(t, "taken")
	rmAll(t, d, name)
	d.DockerT(t, "volume", "create", name)
	p := servePlugin(t, "clash")
	_ = p
	if got := dockerErr(t, d, "volume", "create", "-d", "clash", name); got != "Error response from daemon: create "+name+": driver 'local' already has volume '"+name+"': volume name must be unique" {
		t.Fatalf("clash: %q", got)
	}
}

func TestListFilters(t *testing.T) {
	p := uniq(t, "flt")
	a, b, c := p+"-a", p+"-b", p+"-c"
	rmAll(t, d, a, b, c)
	d.DockerT(t, "volume", "create", "--label", "color=red", "--label", "size=big", a)
	d.DockerT(t, "volume", "create", "--label", "color=blue", b)
	d.DockerT(t, "volume", "create", c)
	mine := func(names []string) []string {
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n, p) {
				out = append(out, n)
			}
		}
		return out
	}
	for _, tc := range []struct {
		filters []string
		want    []string
	}{
		{[]string{"name=" + p}, []string{a, b, c}},
		{[]string{"name=" + p + "-[ab]$"}, []string{a, b}},
		{[]string{"label=color"}, []string{a, b}},
		{[]string{"label=color=red"}, []string{a}},
		{[]string{"label=color=red", "label=size=big"}, []string{a}},
		{[]string{"label=color=blue", "label=size=big"}, nil},
		{[]string{"driver=local", "name=" + p}, []string{a, b, c}},
		{[]string{"driver=nosuch"}, nil},
		// Nothing uses them: all dangling.
		{[]string{"dangling=true", "name=" + p}, []string{a, b, c}},
		{[]string{"dangling=false", "name=" + p}, nil},
	} {
		if got := mine(ls(t, d, tc.filters...)); !slices.Equal(got, tc.want) {
			t.Errorf("filters %v: got %v want %v", tc.filters, got, tc.want)
		}
	}
	if got := dockerErr(t, d, "volume", "ls", "--filter", "bogus=1"); got != "Error response from daemon: invalid filter 'bogus'" {
		t.Errorf("unknown filter: %q", got)
	}
	if got := dockerErr(t, d, "volume", "ls", "--filter", "dangling=maybe"); got != "Error response from daemon: invalid filter 'dangling=maybe'" {
		t.Errorf("bad dangling: %q", got)
	}
	// The table output the CLI renders from the response.
	out := d.DockerT(t, "volume", "ls", "--filter", "name="+a)
	if !strings.Contains(out, "DRIVER") || !strings.Contains(out, "local     "+a) {
		t.Errorf("ls table:\n%s", out)
	}
}

func TestDriverOptions(t *testing.T) {
	tmp := uniq(t, "tmpfs")
	bind := uniq(t, "bind")
	rmAll(t, d, tmp, bind)
	d.DockerT(t, "volume", "create", "--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=64m,uid=1000,gid=1000", tmp)
	v := inspect(t, d, tmp)
	if v.Options["type"] != "tmpfs" || v.Options["device"] != "tmpfs" || v.Options["o"] != "size=64m,uid=1000,gid=1000" {
		t.Fatalf("tmpfs options %v", v.Options)
	}
	host := t.TempDir()
	d.DockerT(t, "volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device="+host, bind)
	if v := inspect(t, d, bind); v.Options["device"] != host || v.Options["o"] != "bind" {
		t.Fatalf("bind options %v", v.Options)
	}
	// Nothing is mounted until a container mounts the volume.
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), filepath.Join(d.DataRoot, "volumes", tmp)) {
		t.Fatal("tmpfs mounted at create")
	}
	// Removing a bind-backed volume keeps the host directory's data.
	os.WriteFile(filepath.Join(host, "keep"), []byte("x"), 0o644)
	d.DockerT(t, "volume", "rm", bind)
	if _, err := os.Stat(filepath.Join(host, "keep")); err != nil {
		t.Fatalf("host data lost: %v", err)
	}
}

func TestPrune(t *testing.T) {
	p := uniq(t, "prn")
	named, keep := p+"-named", p+"-keep"
	rmAll(t, d, named, keep)
	d.DockerT(t, "volume", "create", "--label", "prune="+p, named)
	d.DockerT(t, "volume", "create", "--label", "prune="+p, "--label", "keep", keep)
	anon := strings.TrimSpace(d.DockerT(t, "volume", "create", "--label", "prune="+p))
	rmAll(t, d, anon)
	os.WriteFile(filepath.Join(d.DataRoot, "volumes", anon, "_data", "f"), make([]byte, 4096), 0o644)

	// Default: anonymous volumes only.
	out := d.DockerT(t, "volume", "prune", "-f", "--filter", "label=prune="+p)
	if !strings.Contains(out, anon) || strings.Contains(out, named) || !strings.Contains(out, "Total reclaimed space: 4.096kB") {
		t.Fatalf("prune:\n%s", out)
	}
	// --all takes named ones; label! keeps what it names.
	out = d.DockerT(t, "volume", "prune", "-f", "--all", "--filter", "label=prune="+p, "--filter", "label!=keep")
	if !strings.Contains(out, named) || strings.Contains(out, keep) {
		t.Fatalf("prune --all:\n%s", out)
	}
	if got := ls(t, d, "label=prune="+p); !slices.Equal(got, []string{keep}) {
		t.Fatalf("left after prune: %v", got)
	}
	if got := dockerErr(t, d, "volume", "prune", "-f", "--filter", "dangling=true"); got != "Error response from daemon: invalid filter 'dangling'" {
		t.Fatalf("prune bad filter: %q", got)
	}

	// Before API 1.42, prune removes named volumes too.
	old := p + "-old"
	rmAll(t, d, old)
	d.DockerT(t, "volume", "create", "--label", "old="+p, old)
	resp, body := httpDo(t, "POST", "/v1.41/volumes/prune?filters="+urlq(`{"label":["old=`+p+`"]}`), "")
	var rep volume.PruneReport
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &rep) != nil || !slices.Equal(rep.VolumesDeleted, []string{old}) {
		t.Fatalf("v1.41 prune: %d %s", resp.StatusCode, body)
	}
}

func TestEventsAndDiskUsage(t *testing.T) {
	name := uniq(t, "ev")
	since := time.Now().Add(-time.Second).Unix()
	d.DockerT(t, "volume", "create", name)
	out := d.DockerT(t, "system", "df", "-v", "--format", "{{json .Volumes}}")
	var vols []struct {
		Name  string
		Links any
		Size  string
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &vols); err != nil {
		t.Fatalf("df: %v %s", err, out)
	}
	found := false
	for _, v := range vols {
		if v.Name == name {
			found = true
		}
	}
	if !found {
		t.Fatalf("system df -v does not list %s: %s", name, out)
	}
	resp, body := httpDo(t, "GET", "/system/df?type=volume", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"Name":"`+name+`"`) || !strings.Contains(body, `"UsageData":{"RefCount":0,"Size":0}`) {
		t.Fatalf("df api: %d %s", resp.StatusCode, body)
	}
	d.DockerT(t, "volume", "rm", name)
	until := time.Now().Add(time.Second).Unix()
	ev := d.DockerT(t, "events", "--since", fmt.Sprint(since), "--until", fmt.Sprint(until),
		"--filter", "type=volume", "--filter", "volume="+name, "--format", "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}}")
	want := "volume create " + name + " local\nvolume destroy " + name + " local\n"
	if ev != want {
		t.Fatalf("events:\n%s\nwant:\n%s", ev, want)
	}
}

func TestAPIDetails(t *testing.T) {
	name := uniq(t, "api")
	rmAll(t, d, name)
	resp, body := httpDo(t, "POST", "/volumes/create", `{"Name":"`+name+`","Labels":{"x":"y"}}`)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `"Name":"`+name+`"`) {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	resp, body = httpDo(t, "GET", "/volumes", "")
	var lr volume.ListResponse
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &lr) != nil || !strings.Contains(body, `"Warnings":`) {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	resp, body = httpDo(t, "GET", "/volumes/nosuch-"+name, "")
	if resp.StatusCode != 404 || !strings.Contains(body, `"message":"get nosuch-`+name+`: no such volume"`) {
		t.Fatalf("inspect missing: %d %s", resp.StatusCode, body)
	}
	resp, body = httpDo(t, "DELETE", "/volumes/nosuch-"+name, "")
	if resp.StatusCode != 404 {
		t.Fatalf("delete missing: %d %s", resp.StatusCode, body)
	}
	resp, _ = httpDo(t, "DELETE", "/volumes/nosuch-"+name+"?force=1", "")
	if resp.StatusCode != 204 {
		t.Fatalf("force delete missing: %d", resp.StatusCode)
	}
	resp, body = httpDo(t, "POST", "/volumes/create", `{"Name":"x`+name+`","ClusterVolumeSpec":{}}`)
	if resp.StatusCode != 503 || !strings.Contains(body, "This node is not a swarm manager") {
		t.Fatalf("cluster volume: %d %s", resp.StatusCode, body)
	}
	resp, body = httpDo(t, "POST", "/volumes/create", `{"Name":`)
	if resp.StatusCode != 400 {
		t.Fatalf("bad json: %d %s", resp.StatusCode, body)
	}
	resp, _ = httpDo(t, "DELETE", "/volumes/"+name, "")
	if resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{})
	dd.DockerT(t, "volume", "create", "--label", "k=v", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", "kept")
	os.WriteFile(filepath.Join(dd.DataRoot, "volumes", "kept", "_data", "f"), []byte("data"), 0o644)
	dd.DockerT(t, "volume", "create", "gone")
	dd.DockerT(t, "volume", "rm", "gone")
	for _, kill := range []bool{false, true} {
		if err := dd.Restart(kill); err != nil {
			t.Fatal(err)
		}
		v := inspect(t, dd, "kept")
		if v.Labels["k"] != "v" || v.Options["o"] != "size=1m" {
			t.Fatalf("after restart (kill=%v): %+v", kill, v)
		}
		if b, _ := os.ReadFile(filepath.Join(v.Mountpoint, "f")); string(b) != "data" {
			t.Fatalf("data after restart: %q", b)
		}
		if got := ls(t, dd); !slices.Equal(got, []string{"kept"}) {
			t.Fatalf("ls after restart: %v", got)
		}
	}
}

func httpDo(t *testing.T, method, path, body string) (*http.Response, string) {
	t.Helper()
	return d.Do(t, method, path, body)
}

func urlq(s string) string {
	r := strings.NewReplacer(`{`, "%7B", `}`, "%7D", `"`, "%22", `[`, "%5B", `]`, "%5D", `=`, "%3D", ` `, "%20", `:`, "%3A")
	return r.Replace(s)
}
