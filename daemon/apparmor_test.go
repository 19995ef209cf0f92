package daemon

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/apparmor"
	"github.com/berthd/berth/pkg/sysinfo"
)

// fakeAppArmor makes the daemon see a host with or without AppArmor, with
// the given profiles loaded, and counts loads of the default profile.
func fakeAppArmor(t *testing.T, supported bool, loaded ...string) *int {
	t.Helper()
	saved := appArmor
	t.Cleanup(func() { appArmor = saved })
	installs := 0
	appArmor.supported = func() bool { return supported }
	appArmor.isLoaded = func(name string) (bool, error) {
		if !supported {
			return false, errors.New("no securityfs")
		}
		return slices.Contains(loaded, name), nil
	}
	appArmor.ensureDefault = func() error {
		if !supported {
			return errors.New("no AppArmor")
		}
		if !slices.Contains(loaded, apparmor.DefaultProfile) {
			installs++
			loaded = append(loaded, apparmor.DefaultProfile)
		}
		return nil
	}
	return &installs
}

func TestAppArmorDecision(t *testing.T) {
	for _, tc := range []struct {
		host       bool
		opts       []string
		privileged bool
		want, err  string
	}{
		// A host without AppArmor: nothing applied, whatever was asked
		// (dockerd accepts and ignores the option there).
		{host: false, want: ""},
		{host: false, privileged: true, want: ""},
		{host: false, opts: []string{"apparmor=custom"}, want: ""},
		{host: false, opts: []string{"apparmor=unconfined"}, want: ""},
		// A host with it: docker-default, unconfined when privileged,
		// or what was asked, if loaded.
		{host: true, want: "docker-default"},
		{host: true, privileged: true, want: "unconfined"},
		{host: true, opts: []string{"apparmor=unconfined"}, want: "unconfined"},
		{host: true, opts: []string{"apparmor:unconfined"}, want: "unconfined"},
		{host: true, opts: []string{"apparmor=custom"}, want: "custom"},
		{host: true, opts: []string{"apparmor=custom"}, privileged: true, want: "custom"},
		{host: true, opts: []string{"apparmor=docker-default"}, privileged: true, want: "docker-default"},
		{host: true, opts: []string{"apparmor=notloaded"}, err: "write /proc/self/attr/apparmor/exec: no such file or directory"},
	} {
		fakeAppArmor(t, tc.host, "custom")
		hc := &container.HostConfig{SecurityOpt: tc.opts, Privileged: tc.privileged}
		s, err := specFor(t, &container.Config{Cmd: []string{"x"}}, hc)
		name := strings.Join(tc.opts, ",")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("host=%v %s: err %v, want %q", tc.host, name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("host=%v %s privileged=%v: %v", tc.host, name, tc.privileged, err)
			continue
		}
		if s.Process.ApparmorProfile != tc.want {
			t.Errorf("host=%v %s privileged=%v: profile %q, want %q", tc.host, name, tc.privileged, s.Process.ApparmorProfile, tc.want)
		}
	}
}

// The default profile is loaded when the kernel lacks it (something may
// have unloaded it), and not again while it is there.
func TestAppArmorDefaultReloaded(t *testing.T) {
	installs := fakeAppArmor(t, true)
	for i := 0; i < 3; i++ {
		if _, err := specFor(t, &container.Config{Cmd: []string{"x"}}, &container.HostConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	if *installs != 1 {
		t.Errorf("default profile loaded %d times, want once", *installs)
	}
}

// Execs run under their container's profile; exec --privileged does not
// lift it, as under dockerd.
func TestAppArmorExec(t *testing.T) {
	fakeAppArmor(t, true, "custom")
	for _, tc := range []struct {
		hc       container.HostConfig
		execPriv bool
		want     string
	}{
		{container.HostConfig{}, false, "docker-default"},
		{container.HostConfig{}, true, "docker-default"},
		{container.HostConfig{Privileged: true}, false, "unconfined"},
		{container.HostConfig{SecurityOpt: []string{"apparmor=custom"}}, true, "custom"},
	} {
		c := ctr.New(strings.Repeat("b", 64), t.TempDir())
		hc := tc.hc
		c.Config, c.HostConfig = &container.Config{}, &hc
		e := &execConfig{Config: container.ExecCreateRequest{Cmd: []string{"x"}, Privileged: tc.execPriv}}
		p, _, err := testDaemon().execProcess(c, e, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.ApparmorProfile != tc.want {
			t.Errorf("%+v exec privileged=%v: %q, want %q", tc.hc, tc.execPriv, p.ApparmorProfile, tc.want)
		}
	}
}

func TestInfoSecurityOptionsAppArmor(t *testing.T) {
	fakeAppArmor(t, false)
	if opts := securityOptions(sysinfo.Cgroups{}); slices.Contains(opts, "name=apparmor") {
		t.Errorf("a host without AppArmor claims it: %v", opts)
	}
	fakeAppArmor(t, true)
	if opts := securityOptions(sysinfo.Cgroups{}); !slices.Contains(opts, "name=apparmor") {
		t.Errorf("a host with AppArmor does not list it: %v", opts)
	}
}

// An exec or a health probe takes the profile its container's start
// stored, and neither checks nor loads a profile: it runs with the
// container's lock held, and apparmor_parser may take seconds.
func TestAppArmorExecUsesStoredProfile(t *testing.T) {
	fakeAppArmor(t, true)
	appArmor.ensureDefault = func() error { t.Error("exec ran apparmor_parser"); return nil }
	appArmor.isLoaded = func(string) (bool, error) { t.Error("exec read the loaded profiles"); return true, nil }
	for _, tc := range []struct {
		stored string
		hc     container.HostConfig
		want   string
	}{
		{"docker-default", container.HostConfig{}, "docker-default"},
		{"custom", container.HostConfig{SecurityOpt: []string{"apparmor=custom"}}, "custom"},
		{"unconfined", container.HostConfig{Privileged: true}, "unconfined"},
		// Started by an engine that did not store it.
		{"", container.HostConfig{}, "docker-default"},
	} {
		c := ctr.New(strings.Repeat("c", 64), t.TempDir())
		hc := tc.hc
		c.Config, c.HostConfig, c.AppArmorProfile = &container.Config{}, &hc, tc.stored
		e := &execConfig{Config: container.ExecCreateRequest{Cmd: []string{"x"}}}
		p, _, err := testDaemon().execProcess(c, e, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.ApparmorProfile != tc.want {
			t.Errorf("stored %q: exec under %q, want %q", tc.stored, p.ApparmorProfile, tc.want)
		}
	}
	// On a host without AppArmor, the name inspect shows is not applied.
	fakeAppArmor(t, false)
	c := ctr.New(strings.Repeat("c", 64), t.TempDir())
	c.Config, c.HostConfig, c.AppArmorProfile = &container.Config{}, &container.HostConfig{}, "custom"
	p, _, err := testDaemon().execProcess(c, &execConfig{Config: container.ExecCreateRequest{Cmd: []string{"x"}}}, false, nil)
	if err != nil || p.ApparmorProfile != "" {
		t.Errorf("host without AppArmor: %q %v", p.ApparmorProfile, err)
	}
}

// A host with AppArmor where docker-default cannot be loaded (no
// apparmor_parser): a container that needs it fails to start with the
// reason, and inspect records the profile chosen at start.
func TestAppArmorDefaultUnloadable(t *testing.T) {
	fakeAppArmor(t, true)
	appArmor.ensureDefault = func() error {
		return errors.New("AppArmor enabled on system but the docker-default profile could not be loaded: exec: \"apparmor_parser\": executable file not found in $PATH")
	}
	_, err := specFor(t, &container.Config{Cmd: []string{"x"}}, &container.HostConfig{})
	if err == nil || !strings.Contains(err.Error(), "docker-default profile could not be loaded") {
		t.Errorf("start: %v", err)
	}
	if _, err := specFor(t, &container.Config{Cmd: []string{"x"}}, &container.HostConfig{Privileged: true}); err != nil {
		t.Errorf("privileged (unconfined) start: %v", err)
	}
}
