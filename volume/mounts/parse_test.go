package mounts

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/mount"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestParseMountRawValid(t *testing.T) {
	tests := []struct {
		raw, driver string
		want        MountPoint
	}{
		{"/data", "", MountPoint{Type: mount.TypeVolume, Destination: "/data", RW: true, CopyData: true}},
		{"vol:/data", "", MountPoint{Type: mount.TypeVolume, Name: "vol", Destination: "/data", RW: true, CopyData: true}},
		{"vol:/data/", "", MountPoint{Type: mount.TypeVolume, Name: "vol", Destination: "/data", RW: true, CopyData: true}},
		{"vol:/data:ro", "", MountPoint{Type: mount.TypeVolume, Name: "vol", Destination: "/data", RW: false, CopyData: true, Mode: "ro"}},
		{"vol:/data:rw,nocopy", "", MountPoint{Type: mount.TypeVolume, Name: "vol", Destination: "/data", RW: true, CopyData: false, Mode: "rw,nocopy"}},
		{"vol:/data:z", "", MountPoint{Type: mount.TypeVolume, Name: "vol", Destination: "/data", RW: true, CopyData: true, Mode: "z"}},
		{"vol:/data", "myplugin", MountPoint{Type: mount.TypeVolume, Name: "vol", Driver: "myplugin", Destination: "/data", RW: true, CopyData: true}},
		{"/host:/c", "", MountPoint{Type: mount.TypeBind, Source: "/host", Destination: "/c", RW: true, Propagation: mount.PropagationRPrivate}},
		{"/host/:/c:ro,Z", "", MountPoint{Type: mount.TypeBind, Source: "/host", Destination: "/c", Propagation: mount.PropagationRPrivate, Mode: "ro,Z"}},
		{"/host:/c:rshared", "", MountPoint{Type: mount.TypeBind, Source: "/host", Destination: "/c", RW: true, Propagation: mount.PropagationRShared, Mode: "rshared"}},
		{"/host:/c:ro,slave", "", MountPoint{Type: mount.TypeBind, Source: "/host", Destination: "/c", Propagation: mount.PropagationSlave, Mode: "ro,slave"}},
		{"/host:/c:private", "", MountPoint{Type: mount.TypeBind, Source: "/host", Destination: "/c", RW: true, Propagation: mount.PropagationPrivate, Mode: "private"}},
		{"/host:/c:rprivate", "", MountPoint{Type: mount.TypeBind, Source: "/host", Destination: "/c", RW: true, Propagation: mount.PropagationRPrivate, Mode: "rprivate"}},
		{"/host:/c:shared", "", MountPoint{Type: mount.TypeBind, Source: "/host", Destination: "/c", RW: true, Propagation: mount.PropagationShared, Mode: "shared"}},
		{"/host:/c:rslave", "", MountPoint{Type: mount.TypeBind, Source: "/host", Destination: "/c", RW: true, Propagation: mount.PropagationRSlave, Mode: "rslave"}},
		// A missing -v bind source is created later, not refused.
		{"/does/not/exist:/c", "", MountPoint{Type: mount.TypeBind, Source: "/does/not/exist", Destination: "/c", RW: true, Propagation: mount.PropagationRPrivate}},
	}
	for _, tc := range tests {
		mp, err := ParseMountRaw(tc.raw, tc.driver)
		if err != nil {
			t.Errorf("%q: %v", tc.raw, err)
			continue
		}
		got := *mp
		got.Spec = mount.Mount{}
		if got != tc.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.raw, got, tc.want)
		}
		if mp.SkipMountpointCreation {
			t.Errorf("%q: -v must create a missing bind source", tc.raw)
		}
	}
}

// Every message here is dockerd's, byte for byte.
func TestParseMountRawErrors(t *testing.T) {
	tests := map[string]string{
		"":                   "invalid volume specification: ''",
		":/c":                "invalid volume specification: ':/c'",
		"/c:rw":              "invalid volume specification: '/c:rw'",
		"/c:ro":              "invalid volume specification: '/c:ro'",
		"a:b:c:d":            "invalid volume specification: 'a:b:c:d'",
		"/h:/c:xyz":          "invalid mode: xyz",
		"/h:/c:ro,rw":        "invalid mode: ro,rw",
		"/h:/c:z,Z":          "invalid mode: z,Z",
		"/h:/c:shared,slave": "invalid mode: shared,slave",
		"vol:relative":       `invalid volume specification: 'vol:relative': invalid mount config for type "volume": invalid mount path: 'relative' mount path must be absolute`,
		"/h:relative":        `invalid volume specification: '/h:relative': invalid mount config for type "bind": invalid mount path: 'relative' mount path must be absolute`,
		"vol:/":              `invalid volume specification: 'vol:/': invalid mount config for type "volume": invalid specification: destination can't be '/'`,
		"/h:/":               `invalid volume specification: '/h:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`,
		"/":                  `invalid volume specification: '/': invalid mount config for type "volume": invalid specification: destination can't be '/'`,
		"relative":           `invalid volume specification: 'relative': invalid mount config for type "volume": invalid mount path: 'relative' mount path must be absolute`,
		"vol:/c:shared":      `invalid volume specification: 'vol:/c:shared': invalid mount config for type "volume": field BindOptions must not be specified`,
		"/h:/c:nocopy":       `invalid volume specification: '/h:/c:nocopy': invalid mount config for type "bind": field VolumeOptions must not be specified`,
	}
	for raw, want := range tests {
		_, err := ParseMountRaw(raw, "")
		if err == nil {
			t.Errorf("%q: no error, want %q", raw, want)
			continue
		}
		if err.Error() != want {
			t.Errorf("%q:\n got %q\nwant %q", raw, err, want)
		}
		if !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%q: not an invalid-parameter error", raw)
		}
	}
}

func TestParseMountSpec(t *testing.T) {
	dir := t.TempDir()
	mp, err := ParseMountSpec(mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/c/", ReadOnly: true,
		BindOptions: &mount.BindOptions{Propagation: mount.PropagationRShared, NonRecursive: true}})
	if err != nil {
		t.Fatal(err)
	}
	if mp.Source != dir || mp.Destination != "/c" || mp.RW || mp.Propagation != mount.PropagationRShared || !mp.SkipMountpointCreation || mp.Recursive() {
		t.Errorf("bind: %+v", mp)
	}

	mp, err = ParseMountSpec(mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/c",
		ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyNonRecursive: true}})
	if err != nil {
		t.Fatal(err)
	}
	if nr, force := mp.ReadOnlyRecursion(); !nr || force {
		t.Errorf("bind-recursive=writable: %v %v", nr, force)
	}

	mp, err = ParseMountSpec(mount.Mount{Type: mount.TypeVolume, Source: "v", Target: "/v",
		VolumeOptions: &mount.VolumeOptions{NoCopy: true, Subpath: "a/b", Labels: map[string]string{"l": "1"},
			DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"type": "tmpfs"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if mp.Name != "v" || mp.Driver != "local" || mp.CopyData || mp.Subpath() != "a/b" ||
		mp.VolumeLabels()["l"] != "1" || mp.VolumeDriverOptions()["type"] != "tmpfs" || !mp.RW {
		t.Errorf("volume: %+v", mp)
	}

	mp, err = ParseMountSpec(mount.Mount{Type: mount.TypeTmpfs, Target: "/t",
		TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 64 << 20, Mode: 0o1770, Options: [][]string{{"exec"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if mp.TmpfsOptions != "mode=1770,size=64m,exec" {
		t.Errorf("tmpfs data %q", mp.TmpfsOptions)
	}
	if got := TmpfsMountOptions(mp); len(got) != 6 || got[0] != "nosuid" || got[len(got)-1] != "exec" {
		// noexec is overridden by exec; the rest keep dockerd's order.
		t.Errorf("tmpfs options %q", got)
	}

	// --mount type=bind with a missing source but create-mountpoint.
	missing := filepath.Join(dir, "missing")
	mp, err = ParseMountSpec(mount.Mount{Type: mount.TypeBind, Source: missing, Target: "/m",
		BindOptions: &mount.BindOptions{CreateMountpoint: true}})
	if err != nil || mp.SkipMountpointCreation {
		t.Errorf("create-mountpoint: %v %+v", err, mp)
	}
}

func TestParseMountSpecErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	tests := []struct {
		m    mount.Mount
		want string
	}{
		{mount.Mount{Type: mount.TypeBind, Source: "/x-berth-missing", Target: "/c"},
			`invalid mount config for type "bind": bind source path does not exist: /x-berth-missing`},
		{mount.Mount{Type: mount.TypeBind, Target: "/c"},
			`invalid mount config for type "bind": field Source must not be empty`},
		{mount.Mount{Type: mount.TypeBind, Source: dir},
			`invalid mount config for type "bind": field Target must not be empty`},
		{mount.Mount{Type: mount.TypeBind, Source: "relative", Target: "/c"},
			`invalid mount config for type "bind": invalid mount path: 'relative' mount path must be absolute`},
		{mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/"},
			`invalid mount config for type "bind": invalid specification: destination can't be '/'`},
		{mount.Mount{Type: mount.TypeBind, Source: dir, Target: "c"},
			`invalid mount config for type "bind": invalid mount path: 'c' mount path must be absolute`},
		{mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/c", BindOptions: &mount.BindOptions{Propagation: "bogus"}},
			`invalid mount config for type "bind": invalid propagation mode: bogus`},
		{mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/c", VolumeOptions: &mount.VolumeOptions{}},
			`invalid mount config for type "bind": field VolumeOptions must not be specified`},
		{mount.Mount{Type: mount.TypeVolume, Source: "v", Target: "/c", BindOptions: &mount.BindOptions{}},
			`invalid mount config for type "volume": field BindOptions must not be specified`},
		{mount.Mount{Type: mount.TypeVolume, Target: "/c", ReadOnly: true},
			`invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes`},
		{mount.Mount{Type: mount.TypeVolume, Target: "/c", VolumeOptions: &mount.VolumeOptions{Subpath: "a"}},
			`invalid mount config for type "volume": must not set Subpath when using anonymous volumes`},
		{mount.Mount{Type: mount.TypeVolume, Source: "v", Target: "/c", VolumeOptions: &mount.VolumeOptions{Subpath: "../etc"}},
			`invalid mount config for type "volume": subpath must be a relative path within the volume`},
		{mount.Mount{Type: mount.TypeVolume, Source: "v", Target: "/c", VolumeOptions: &mount.VolumeOptions{Subpath: "/abs"}},
			`invalid mount config for type "volume": subpath must be a relative path within the volume`},
		{mount.Mount{Type: mount.TypeTmpfs, Source: "x", Target: "/t"},
			`invalid mount config for type "tmpfs": field Source must not be specified`},
		{mount.Mount{Type: mount.TypeTmpfs, Target: "/t", BindOptions: &mount.BindOptions{}},
			`invalid mount config for type "tmpfs": field BindOptions must not be specified`},
		{mount.Mount{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{Options: [][]string{{"suid"}}}},
			`invalid mount config for type "tmpfs": invalid option: suid`},
		{mount.Mount{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{Options: [][]string{{"a", "b", "c"}}}},
			`invalid mount config for type "tmpfs": invalid option array length`},
		{mount.Mount{Type: mount.TypeImage, Target: "/i"},
			`invalid mount config for type "image": field Source must not be empty`},
		{mount.Mount{Type: "npipe", Source: "x", Target: "/c"},
			`invalid mount config for type "npipe": mount type unknown`},
		{mount.Mount{Type: "", Source: "x", Target: "/c"},
			`invalid mount config for type "": mount type unknown`},
	}
	for _, tc := range tests {
		_, err := ParseMountSpec(tc.m)
		if err == nil {
			t.Errorf("%+v: no error, want %q", tc.m, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.m, err, tc.want)
		}
		if !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%+v: not an invalid-parameter error", tc.m)
		}
	}
}

func TestParseVolumesFrom(t *testing.T) {
	for spec, want := range map[string][2]string{
		"c1":      {"c1", "rw"},
		"c1:ro":   {"c1", "ro"},
		"c1:rw":   {"c1", "rw"},
		"c1:ro,z": {"c1", "ro,z"},
	} {
		id, mode, err := ParseVolumesFrom(spec)
		if err != nil || id != want[0] || mode != want[1] {
			t.Errorf("%q: %q %q %v", spec, id, mode, err)
		}
	}
	for spec, want := range map[string]string{
		"":           "volumes-from specification cannot be an empty string",
		"c1:bogus":   "invalid mode: bogus",
		"c1:rshared": "invalid mode: rshared",
		"c1:nocopy":  "invalid mode: nocopy",
	} {
		if _, _, err := ParseVolumesFrom(spec); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %q", spec, err, want)
		}
	}
}

func TestParseTmpfs(t *testing.T) {
	mp, err := ParseTmpfs("/run/", "ro,size=64m,mode=1777,uid=1000")
	if err != nil {
		t.Fatal(err)
	}
	if mp.Destination != "/run" || mp.RW || mp.Type != mount.TypeTmpfs {
		t.Errorf("%+v", mp)
	}
	for dest, want := range map[string]string{
		"/":   "invalid specification: destination can't be '/'",
		"rel": "invalid mount path: 'rel' mount path must be absolute",
	} {
		if _, err := ParseTmpfs(dest, ""); err == nil || err.Error() != want {
			t.Errorf("%q: %v", dest, err)
		}
	}
	if _, err := ParseTmpfs("/t", "bogus=1"); err == nil || err.Error() != `invalid tmpfs option ["bogus" "1"]` {
		t.Errorf("bogus option: %v", err)
	}
	got := TmpfsMountOptions(&MountPoint{TmpfsOptions: ""})
	want := []string{"noexec", "nosuid", "nodev", "rprivate", "size=65536k"}
	if len(got) != len(want) {
		t.Fatalf("defaults %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("defaults %q", got)
		}
	}
}

func TestCollect(t *testing.T) {
	dir := t.TempDir()
	inherited := []*MountPoint{
		{Type: mount.TypeVolume, Name: "shared", Destination: "/shared", RW: true, CopyData: true},
		{Type: mount.TypeVolume, Name: "over", Destination: "/over", RW: true},
	}
	mps, err := Collect(Config{
		Binds:        []string{dir + ":/host:ro", "named:/data", "/anon"},
		Mounts:       []mount.Mount{{Type: mount.TypeVolume, Source: "m", Target: "/over"}, {Type: mount.TypeTmpfs, Target: "/data/tmp"}},
		Tmpfs:        map[string]string{"/run": "size=1m"},
		Volumes:      map[string]struct{}{"/data": {}, "/image/vol": {}},
		VolumeDriver: "drv",
		VolumesFrom:  []Inherited{{Mode: "ro", MountPoints: inherited}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var dests []string
	byDest := map[string]*MountPoint{}
	for _, mp := range mps {
		dests = append(dests, mp.Destination)
		byDest[mp.Destination] = mp
	}
	wantOrder := []string{"/anon", "/data", "/host", "/over", "/run", "/shared", "/data/tmp", "/image/vol"}
	if len(dests) != len(wantOrder) {
		t.Fatalf("destinations %q", dests)
	}
	for i := range wantOrder {
		if dests[i] != wantOrder[i] {
			t.Fatalf("order %q, want %q", dests, wantOrder)
		}
	}
	if mp := byDest["/shared"]; mp.RW || mp.CopyData {
		t.Errorf("volumes-from :ro must be read-only without copy: %+v", mp)
	}
	if mp := byDest["/over"]; mp.Name != "m" || mp.Driver != "drv" {
		t.Errorf("--mount must replace volumes-from: %+v", mp)
	}
	if mp := byDest["/data"]; mp.Name != "named" || mp.Driver != "drv" {
		t.Errorf("-v must win over an image VOLUME: %+v", mp)
	}
	if mp := byDest["/image/vol"]; !mp.Anonymous() || !mp.CopyData || mp.Driver != "drv" {
		t.Errorf("image VOLUME: %+v", mp)
	}
	if mp := byDest["/anon"]; !mp.Anonymous() {
		t.Errorf("-v /anon: %+v", mp)
	}
	if mp := byDest["/host"]; mp.RW || mp.Source != dir {
		t.Errorf("bind: %+v", mp)
	}

	for name, c := range map[string]Config{
		"bind+bind":   {Binds: []string{"a:/x", "b:/x/"}},
		"bind+mount":  {Binds: []string{"a:/x"}, Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "b", Target: "/x"}}},
		"mount+mount": {Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "a", Target: "/x"}, {Type: mount.TypeTmpfs, Target: "/x"}}},
		"bind+tmpfs":  {Binds: []string{"a:/x"}, Tmpfs: map[string]string{"/x": ""}},
	} {
		_, err := Collect(c)
		if err == nil || err.Error() != "Duplicate mount point: /x" || !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Collect(Config{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/x-berth-missing", Target: "/c"}}}); err == nil ||
		err.Error() != `invalid mount config for type "bind": bind source path does not exist: /x-berth-missing` {
		t.Errorf("missing bind source: %v", err)
	}
}
