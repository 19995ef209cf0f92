package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
	"github.com/berthd/berth/volume"
	"github.com/berthd/berth/volume/plugin"
	"github.com/berthd/berth/volume/plugin/plugintest"
)

type eventLog struct {
	mu  sync.Mutex
	got []string
}

func (e *eventLog) add(action, name string, attrs map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := make([]string, 0, len(attrs))
	for k, v := range attrs {
		keys = append(keys, k+"="+v)
	}
	slices.Sort(keys)
	e.got = append(e.got, action+" "+name+" "+strings.Join(keys, ","))
}

func (e *eventLog) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

type fixture struct {
	root    string
	plugins string
	specs   string
	events  *eventLog
}

func newFixture(t *testing.T) *fixture {
	base := t.TempDir()
	f := &fixture{
		root:    filepath.Join(base, "volumes"),
		plugins: filepath.Join(base, "plugins"),
		specs:   filepath.Join(base, "specs"),
		events:  &eventLog{},
	}
	os.MkdirAll(f.plugins, 0o755)
	os.MkdirAll(f.specs, 0o755)
	t.Cleanup(func() {
		// Whatever a failed test left mounted under its root.
		b, _ := os.ReadFile("/proc/self/mountinfo")
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) > 4 && strings.HasPrefix(fields[4], base) {
				unix.Unmount(fields[4], unix.MNT_DETACH)
			}
		}
	})
	return f
}

func (f *fixture) open(t *testing.T) *Service {
	t.Helper()
	s, err := New(Options{
		Root:    f.root,
		Plugins: plugin.NewRegistry([]string{f.plugins}, []string{f.specs}),
		OnEvent: f.events.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func names(vols []string) string { return strings.Join(vols, " ") }

func listNames(t *testing.T, s *Service, pairs ...[2]string) string {
	t.Helper()
	vols, _, err := s.List(context.Background(), filters.NewArgs(pairs...))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range vols {
		out = append(out, v.Name)
	}
	return names(out)
}

func TestCreateInspectListRemove(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.open(t)

	v, err := s.Create(ctx, "data", "", WithLabels(map[string]string{"app": "web", "tier": "db"}), WithDriverOpts(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "data" || v.Driver != "local" || v.Scope != "local" || v.Mountpoint != filepath.Join(f.root, "data", "_data") ||
		v.Labels["app"] != "web" || v.Options == nil || v.CreatedAt == "" {
		t.Fatalf("created %+v", v)
	}
	// Idempotent: same name and driver give the same volume, first labels.
	again, err := s.Create(ctx, "data", "local", WithLabels(map[string]string{"other": "x"}))
	if err != nil || again.Labels["app"] != "web" {
		t.Fatalf("second create: %+v %v", again, err)
	}
	if _, err := s.Create(ctx, "other", ""); err != nil {
		t.Fatal(err)
	}
	anon, err := s.Create(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(anon.Name) != 64 {
		t.Fatalf("anonymous name %q", anon.Name)
	}
	if _, ok := anon.Labels[volume.AnonymousLabel]; !ok {
		t.Fatalf("anonymous label missing: %v", anon.Labels)
	}

	_, err = s.Create(ctx, "a", "")
	if err == nil || err.Error() != "create a: volume name is too short, names should be at least two alphanumeric characters" || !errdefs.Is(err, errdefs.InvalidParameter) {
		t.Fatalf("short name: %v", err)
	}
	_, err = s.Create(ctx, "bad", "local", WithDriverOpts(map[string]string{"foo": "bar"}))
	if err == nil || err.Error() != `create bad: invalid option: "foo"` || !errdefs.Is(err, errdefs.InvalidParameter) {
		t.Fatalf("bad option: %v", err)
	}
	_, err = s.Create(ctx, "x1", "nosuchdriver")
	if err == nil || err.Error() != `create x1: error looking up volume plugin nosuchdriver: plugin "nosuchdriver" not found` || !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("unknown driver: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "x1")); !os.IsNotExist(err) {
		t.Fatal("a failed create left a directory")
	}

	_, err = s.Get(ctx, "missing")
	if err == nil || err.Error() != "get missing: no such volume" || !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("get missing: %v", err)
	}
	got, err := s.Get(ctx, "data")
	if err != nil || got.Labels["tier"] != "db" {
		t.Fatalf("get: %+v %v", got, err)
	}

	all := listNames(t, s)
	if all != strings.Join(slices.Sorted(slices.Values([]string{anon.Name, "data", "other"})), " ") {
		t.Fatalf("list: %s", all)
	}
	if got := listNames(t, s, [2]string{"name", "dat"}); got != "data" {
		t.Errorf("name filter: %q", got)
	}
	if got := listNames(t, s, [2]string{"label", "app=web"}); got != "data" {
		t.Errorf("label filter: %q", got)
	}
	if got := listNames(t, s, [2]string{"label", "app"}, [2]string{"label", "tier=db"}); got != "data" {
		t.Errorf("two label filters: %q", got)
	}
	if got := listNames(t, s, [2]string{"label", "app=db"}); got != "" {
		t.Errorf("label mismatch: %q", got)
	}
	if got := listNames(t, s, [2]string{"driver", "local"}, [2]string{"name", "^other$"}); got != "other" {
		t.Errorf("driver filter: %q", got)
	}
	if got := listNames(t, s, [2]string{"driver", "nosuch"}); got != "" {
		t.Errorf("driver filter, no match: %q", got)
	}

	// References make a volume in use: dangling filter and removal.
	if err := s.Acquire(ctx, "data", "c2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Acquire(ctx, "data", "c1"); err != nil {
		t.Fatal(err)
	}
	if got := listNames(t, s, [2]string{"dangling", "false"}); got != "data" {
		t.Errorf("dangling=false: %q", got)
	}
	if got := listNames(t, s, [2]string{"dangling", "true"}, [2]string{"name", "other"}); got != "other" {
		t.Errorf("dangling=true: %q", got)
	}
	_, _, err = s.List(ctx, filters.NewArgs([2]string{"dangling", "maybe"}))
	if err == nil || err.Error() != "invalid filter 'dangling=maybe'" {
		t.Errorf("bad dangling: %v", err)
	}
	_, _, err = s.List(ctx, filters.NewArgs([2]string{"bogus", "1"}))
	if err == nil || err.Error() != "invalid filter 'bogus'" || !errdefs.Is(err, errdefs.InvalidParameter) {
		t.Errorf("unknown filter: %v", err)
	}
	for _, force := range []bool{false, true} {
		err = s.Remove(ctx, "data", force)
		if err == nil || err.Error() != "remove data: volume is in use - [c1, c2]" || !errdefs.Is(err, errdefs.Conflict) {
			t.Fatalf("remove in use (force=%v): %v", force, err)
		}
	}
	if s.InUse("data") == nil {
		t.Fatal("refused removal dropped the references")
	}
	s.Release(ctx, "data", "c1")
	if err := s.ReleaseAll(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "data", false); err != nil {
		t.Fatal(err)
	}
	err = s.Remove(ctx, "data", false)
	if err == nil || err.Error() != "get data: no such volume" || !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("remove missing: %v", err)
	}
	if err := s.Remove(ctx, "data", true); err != nil {
		t.Fatalf("force remove of a missing volume: %v", err)
	}

	ev := f.events.list()
	want := []string{"create data driver=local", "create other driver=local", "create " + anon.Name + " driver=local", "destroy data driver=local"}
	if !slices.Equal(ev, want) {
		t.Fatalf("events\n got %q\nwant %q", ev, want)
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.open(t)
	if _, err := s.Create(ctx, "keep", "", WithLabels(map[string]string{"k": "v"}), WithDriverOpts(map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "gone", ""); err != nil {
		t.Fatal(err)
	}
	// A crash after the driver removed the data but before the record
	// went: the next start drops the record.
	os.RemoveAll(filepath.Join(f.root, "gone"))
	// A crash mid-write leaves a temporary beside the records.
	os.WriteFile(filepath.Join(f.root, metaDirName, ".keep.json.tmp123"), []byte("{"), 0o600)
	// A volume dockerd made (no record): still a volume.
	os.MkdirAll(filepath.Join(f.root, "fromdockerd", "_data"), 0o755)

	s2 := f.open(t)
	v, err := s2.Get(ctx, "keep")
	if err != nil {
		t.Fatal(err)
	}
	if v.Labels["k"] != "v" || v.Options["type"] != "tmpfs" || v.Options["o"] != "size=1m" {
		t.Fatalf("after restart: %+v", v)
	}
	if got := listNames(t, s2); got != "fromdockerd keep" {
		t.Fatalf("list after restart: %q", got)
	}
	entries, _ := os.ReadDir(filepath.Join(f.root, metaDirName))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.Name() == "gone.json" {
			t.Errorf("left in records: %s", e.Name())
		}
	}
}

func TestMountRefCountingAndEvents(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing prerequisite: root")
		}
		t.Skip("missing prerequisite: root")
	}
	ctx := context.Background()
	f := newFixture(t)
	s := f.open(t)
	if _, err := s.Create(ctx, "shm", "", WithDriverOpts(map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=2m"})); err != nil {
		t.Fatal(err)
	}
	mounted := func() bool {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		return strings.Contains(string(b), " "+filepath.Join(f.root, "shm", "_data")+" ")
	}
	p1, err := s.Mount(ctx, "shm", "c1", WithEventAttributes(map[string]string{"destination": "/x", "read/write": "true", "propagation": ""}))
	if err != nil {
		t.Fatal(err)
	}
	p1again, err := s.Mount(ctx, "shm", "c1")
	if err != nil || p1again != p1 {
		t.Fatalf("second mount by the same container: %q %v", p1again, err)
	}
	if _, err := s.Mount(ctx, "shm", "c2"); err != nil {
		t.Fatal(err)
	}
	if !mounted() {
		t.Fatal("not mounted")
	}
	if got := s.Mounted("shm"); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Fatalf("mounted by %v", got)
	}
	err = s.Remove(ctx, "shm", true)
	if err == nil || err.Error() != "remove shm: volume is in use - [c1, c2]" {
		t.Fatalf("remove mounted: %v", err)
	}
	s.Unmount(ctx, "shm", "c1")
	if !mounted() {
		t.Fatal("unmounted while c2 has it")
	}
	s.Unmount(ctx, "shm", "c2")
	if mounted() {
		t.Fatal("still mounted after the last unmount")
	}
	if got := s.InUse("shm"); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Fatalf("unmount must keep the references: %v", got)
	}
	s.ReleaseAll(ctx, "c1")
	s.ReleaseAll(ctx, "c2")
	if err := s.Remove(ctx, "shm", false); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"create shm driver=local",
		"mount shm container=c1,destination=/x,driver=local,propagation=,read/write=true",
		"mount shm container=c2,driver=local",
		"unmount shm container=c1,driver=local",
		"unmount shm container=c2,driver=local",
		"destroy shm driver=local",
	}
	if got := f.events.list(); !slices.Equal(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.open(t)
	mk := func(name string, labels map[string]string) string {
		v, err := s.Create(ctx, name, "", WithLabels(labels))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("0123456789"), 0o644)
		return v.Name
	}
	anon1 := mk("", map[string]string{"keep": "no"})
	anon2 := mk("", map[string]string{"keep": "yes"})
	anonUsed := mk("", nil)
	mk("named", map[string]string{"keep": "no"})
	s.Acquire(ctx, anonUsed, "c1")

	// Default (API >= 1.42): anonymous only, and a label filter narrows.
	rep, err := s.Prune(ctx, filters.NewArgs([2]string{"label", "keep=no"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.VolumesDeleted, []string{anon1}) || rep.SpaceReclaimed != 10 {
		t.Fatalf("prune label: %+v", rep)
	}
	rep, err = s.Prune(ctx, filters.NewArgs([2]string{"label!", "keep=yes"}))
	if err != nil || len(rep.VolumesDeleted) != 0 {
		t.Fatalf("prune label!: %+v %v", rep, err)
	}
	rep, err = s.Prune(ctx, filters.NewArgs())
	if err != nil || !slices.Equal(rep.VolumesDeleted, []string{anon2}) {
		t.Fatalf("prune: %+v %v", rep, err)
	}
	// all=true takes named volumes too, never one in use.
	rep, err = s.Prune(ctx, filters.NewArgs([2]string{"all", "true"}))
	if err != nil || !slices.Equal(rep.VolumesDeleted, []string{"named"}) || rep.SpaceReclaimed != 10 {
		t.Fatalf("prune all: %+v %v", rep, err)
	}
	if _, err := s.Get(ctx, anonUsed); err != nil {
		t.Fatal("pruned a volume in use")
	}
	for args, want := range map[string]string{
		`{"all":["maybe"]}`:     `invalid filter 'all': strconv.ParseBool: parsing "maybe": invalid syntax`,
		`{"dangling":["true"]}`: "invalid filter 'dangling'",
		`{"all":["1","0"]}`:     "invalid filter 'all=[0 1]': only one value is expected",
	} {
		a, _ := filters.FromJSON(args)
		if _, err := s.Prune(ctx, a); err == nil || err.Error() != want || !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
	// system df: sizes and reference counts.
	vols, err := s.LocalVolumesSize(ctx)
	if err != nil || len(vols) != 1 || vols[0].UsageData == nil || vols[0].UsageData.Size != 10 || vols[0].UsageData.RefCount != 1 {
		t.Fatalf("df: %+v %v", vols, err)
	}
}

func TestPluginDriver(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	data := filepath.Join(filepath.Dir(f.root), "plugdata")
	p, err := plugintest.Serve(filepath.Join(f.plugins, "myplugin.sock"), data)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The same plugin reached through a .spec and a .json file.
	os.WriteFile(filepath.Join(f.specs, "specplugin.spec"), []byte("unix://"+p.Socket+"\n"), 0o644)
	os.MkdirAll(filepath.Join(f.specs, "jsonplugin"), 0o755)
	os.WriteFile(filepath.Join(f.specs, "jsonplugin", "jsonplugin.json"), []byte(fmt.Sprintf(`{"Name":"jsonplugin","Addr":"unix://%s"}`, p.Socket)), 0o644)
	p.Scope = "global"

	s := f.open(t)
	v, err := s.Create(ctx, "pv", "myplugin", WithDriverOpts(map[string]string{"size": "1"}), WithLabels(map[string]string{"l": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	if v.Driver != "myplugin" || v.Scope != "global" || v.Labels["l"] != "1" || v.Options["size"] != "1" {
		t.Fatalf("created %+v", v)
	}
	if !p.Has("pv") || p.Count("Plugin.Activate") != 1 {
		t.Fatalf("plugin calls %+v", p.Calls())
	}
	got, err := s.Get(ctx, "pv")
	if err != nil || got.Mountpoint != filepath.Join(data, "pv") || got.Status["opts"] != "1" {
		t.Fatalf("inspect %+v %v", got, err)
	}
	_, err = s.Create(ctx, "pv", "local")
	if err == nil || err.Error() != "create pv: driver 'myplugin' already has volume 'pv': volume name must be unique" || !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("name clash: %v", err)
	}
	path, err := s.Mount(ctx, "pv", "c1")
	if err != nil || path != filepath.Join(data, "pv") || !slices.Equal(p.Mounts("pv"), []string{"c1"}) {
		t.Fatalf("mount %q %v %v", path, err, p.Mounts("pv"))
	}
	if err := s.Unmount(ctx, "pv", "c1"); err != nil || len(p.Mounts("pv")) != 0 {
		t.Fatalf("unmount %v %v", err, p.Mounts("pv"))
	}

	for _, drv := range []string{"specplugin", "jsonplugin"} {
		if _, err := s.Create(ctx, "via-"+drv, drv); err != nil {
			t.Fatalf("%s: %v", drv, err)
		}
	}
	if got := listNames(t, s, [2]string{"driver", "myplugin"}); got != "pv" {
		t.Fatalf("list by plugin driver: %q", got)
	}
	// Plugins report errors in Err; the engine passes them on.
	_, err = s.Create(ctx, "boom", "myplugin", WithDriverOpts(map[string]string{"fail": "disk on fire"}))
	if err == nil || err.Error() != "create boom: disk on fire" {
		t.Fatalf("plugin error: %v", err)
	}

	// Records survive a restart; the plugin is activated again on use.
	s2 := f.open(t)
	got, err = s2.Get(ctx, "pv")
	if err != nil || got.Driver != "myplugin" || got.Labels["l"] != "1" {
		t.Fatalf("after restart %+v %v", got, err)
	}
	if err := s2.Remove(ctx, "pv", false); err != nil {
		t.Fatal(err)
	}
	if p.Has("pv") {
		t.Fatal("plugin still has the removed volume")
	}

	// A plugin that stops answering: its recorded volumes are listed with
	// a warning, as dockerd does.
	p.Close()
	s3 := f.open(t)
	vols, warnings, err := s3.List(ctx, filters.NewArgs())
	if err != nil || len(warnings) == 0 {
		t.Fatalf("list with a dead plugin: %v %v", warnings, err)
	}
	var listed []string
	for _, v := range vols {
		listed = append(listed, v.Name)
	}
	if !slices.Contains(listed, "via-specplugin") {
		t.Fatalf("recorded volumes of a dead plugin not listed: %v", listed)
	}
}
