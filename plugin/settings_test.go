package plugin

import (
	"strings"
	"testing"

	"github.com/moby/moby/api/types/plugin"
)

func strp(s string) *string { return &s }

func testRecord() record {
	cfg := plugin.Config{
		Env: []plugin.Env{
			{Name: "DEBUG", Settable: []string{"value"}, Value: strp("0")},
			{Name: "FIXED", Value: strp("1")},
			{Name: "UNSET", Settable: []string{"value"}},
		},
		Mounts: []plugin.Mount{{Name: "state", Source: strp("/var/lib/x"), Destination: "/state", Settable: []string{"source"}}},
		Linux:  plugin.LinuxConfig{Devices: []plugin.Device{{Name: "dev", Path: strp("/dev/null"), Settable: []string{"path"}}}},
		Args:   plugin.Args{Name: "args", Settable: []string{"value"}, Value: []string{"--a"}},
	}
	return record{Plugin: plugin.Plugin{Name: "x:latest", Config: cfg, Settings: initialSettings(cfg)}}
}

func TestInitialSettings(t *testing.T) {
	r := testRecord()
	if got := strings.Join(r.Settings.Env, ","); got != "DEBUG=0,FIXED=1" {
		t.Fatalf("env %q: only the variables with a value", got)
	}
	if len(r.Settings.Mounts) != 1 || len(r.Settings.Devices) != 1 || strings.Join(r.Settings.Args, " ") != "--a" {
		t.Fatalf("settings %+v", r.Settings)
	}
}

func TestApplySettings(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		err   string
		check func(*testing.T, record)
	}{
		{args: []string{"DEBUG=1"}, check: func(t *testing.T, r record) {
			if got := strings.Join(r.Settings.Env, ","); got != "DEBUG=1,FIXED=1" {
				t.Fatalf("env %q", got)
			}
		}},
		{args: []string{"UNSET=v"}, check: func(t *testing.T, r record) {
			if got := strings.Join(r.Settings.Env, ","); got != "DEBUG=0,FIXED=1,UNSET=v" {
				t.Fatalf("env %q", got)
			}
		}},
		{args: []string{"state.source=/srv"}, check: func(t *testing.T, r record) {
			if *r.Settings.Mounts[0].Source != "/srv" || *r.Config.Mounts[0].Source != "/srv" {
				t.Fatalf("mount source %q / %q", *r.Settings.Mounts[0].Source, *r.Config.Mounts[0].Source)
			}
		}},
		{args: []string{"dev=/dev/zero"}, check: func(t *testing.T, r record) {
			if *r.Settings.Devices[0].Path != "/dev/zero" {
				t.Fatalf("device %q", *r.Settings.Devices[0].Path)
			}
		}},
		{args: []string{"args=-x -y"}, check: func(t *testing.T, r record) {
			if strings.Join(r.Settings.Args, "|") != "-x|-y" {
				t.Fatalf("args %q", r.Settings.Args)
			}
		}},
		{args: []string{"FIXED=2"}, err: `"FIXED" is not settable`},
		{args: []string{"DEBUG.path=2"}, err: `"DEBUG.path" is not settable`},
		{args: []string{"NOPE=2"}, err: `setting "NOPE" not found in the plugin configuration`},
		{args: []string{"=2"}, err: "invalid format, must be <name>[.<field>][=<value>]"},
		// One bad argument changes nothing.
		{args: []string{"DEBUG=1", "NOPE=2"}, err: "not found"},
	} {
		r := testRecord()
		before := strings.Join(r.Settings.Env, ",")
		err := applySettings(&r, tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v; want %q", tc.args, err, tc.err)
			}
			if got := strings.Join(r.Settings.Env, ","); got != before {
				t.Errorf("%v: a failed set changed env to %q", tc.args, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		tc.check(t, r)
	}
	r := testRecord()
	r.Enabled = true
	if err := applySettings(&r, []string{"DEBUG=1"}); err == nil || !strings.Contains(err.Error(), "cannot set on an active plugin") {
		t.Fatalf("set on an enabled plugin: %v", err)
	}
}

func TestPrivileges(t *testing.T) {
	cfg := plugin.Config{
		Network: plugin.NetworkConfig{Type: "host"},
		IpcHost: true,
		Mounts:  []plugin.Mount{{Source: strp("/var/run")}, {Destination: "/tmp"}},
		Linux:   plugin.LinuxConfig{Capabilities: []string{"CAP_SYS_ADMIN"}, AllowAllDevices: true, Devices: []plugin.Device{{Path: strp("/dev/fuse")}}},
	}
	got := Privileges(cfg)
	var names []string
	for _, p := range got {
		names = append(names, p.Name+"="+strings.Join(p.Value, ","))
	}
	want := "network=host host ipc namespace=true mount=/var/run device=/dev/fuse allow-all-devices=true capabilities=CAP_SYS_ADMIN"
	if strings.Join(names, " ") != want {
		t.Fatalf("privileges %q\nwant %q", strings.Join(names, " "), want)
	}
	if Privileges(plugin.Config{Network: plugin.NetworkConfig{Type: "bridge"}}) != nil {
		t.Fatal("a bridge network is no privilege")
	}
	reversed := append(plugin.Privileges{}, got...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	if !samePrivileges(reversed, got) {
		t.Fatal("the same privileges in another order")
	}
	if samePrivileges(got[1:], got) || samePrivileges(nil, got) {
		t.Fatal("fewer privileges accepted")
	}
}

func TestFullName(t *testing.T) {
	for in, want := range map[string]string{
		"vieux/sshfs":           "vieux/sshfs:latest",
		"docker.io/vieux/sshfs": "vieux/sshfs:latest",
		"localhost:5000/p:1.0":  "localhost:5000/p:1.0",
		"plain":                 "plain:latest",
	} {
		if got, err := FullName(in); err != nil || got != want {
			t.Errorf("FullName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"UPPER", "x@sha256:" + strings.Repeat("a", 64), ""} {
		if _, err := FullName(bad); err == nil {
			t.Errorf("FullName(%q) accepted", bad)
		}
	}
}

func TestImplements(t *testing.T) {
	var cfg plugin.Config
	var id plugin.CapabilityID
	id.UnmarshalText([]byte("docker.volumedriver/1.0"))
	cfg.Interface.Types = []plugin.CapabilityID{id}
	if !implements(cfg, "VolumeDriver") || !implements(cfg, "volumedriver") || implements(cfg, "authz") {
		t.Fatal("capability matching")
	}
}

func TestCutPathPrefix(t *testing.T) {
	for _, tc := range []struct {
		p, dir, rest string
		ok           bool
	}{
		{"/data/v1", "/data", "/v1", true},
		{"/data", "/data", "/", true},
		{"/database/v1", "/data", "", false},
		{"/x/../data/v1", "/data", "/v1", true},
		{"/v", "/", "/v", true},
	} {
		rest, ok := cutPathPrefix(tc.p, tc.dir)
		if ok != tc.ok || (ok && rest != tc.rest) {
			t.Errorf("cutPathPrefix(%q, %q) = %q, %v", tc.p, tc.dir, rest, ok)
		}
	}
}
