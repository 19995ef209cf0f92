package apparmor

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func render(t *testing.T, d ProfileData) string {
	t.Helper()
	var b bytes.Buffer
	if err := Generate(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The rules that make docker-default what it is, each as its own line.
var keyRules = []string{
	"profile docker-default flags=(attach_disconnected,mediate_deleted) {",
	"  network,",
	"  capability,",
	"  file,",
	"  umount,",
	"  signal (receive) peer=unconfined,",
	"  signal (receive) peer=runc,",
	"  signal (receive) peer=crun,",
	"  signal (send,receive) peer=docker-default,",
	"  deny @{PROC}/* w,",
	"  deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}/** w,",
	"  deny @{PROC}/sys/[^k]** w,",
	"  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,",
	"  deny @{PROC}/sysrq-trigger rwklx,",
	"  deny @{PROC}/kcore rwklx,",
	"  deny mount,",
	"  deny /sys/[^f]*/** wklx,",
	"  deny /sys/f[^s]*/** wklx,",
	"  deny /sys/fs/[^c]*/** wklx,",
	"  deny /sys/fs/c[^g]*/** wklx,",
	"  deny /sys/fs/cg[^r]*/** wklx,",
	"  deny /sys/firmware/** rwklx,",
	"  deny /sys/devices/virtual/powercap/** rwklx,",
	"  deny /sys/kernel/security/** rwklx,",
	"  ptrace (trace,read,tracedby,readby) peer=docker-default,",
}

func TestProfileText(t *testing.T) {
	text := render(t, ProfileData{Name: DefaultProfile, DaemonProfile: "berthd-prof",
		Imports: []string{"#include <tunables/global>"}, InnerImports: []string{"#include <abstractions/base>"}})
	lines := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		lines[l] = true
	}
	for _, r := range append(keyRules, "#include <tunables/global>", "  #include <abstractions/base>", "  signal (receive) peer=berthd-prof,") {
		if !lines[r] {
			t.Errorf("profile lacks the line %q", r)
		}
	}
	// Nothing may widen it: no mount or ptrace allowed beyond the above,
	// and no rule that allows all of /proc or /sys writes.
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "mount") || strings.HasPrefix(l, "pivot_root") || strings.HasPrefix(l, "change_profile") ||
			(strings.HasPrefix(l, "ptrace") && !strings.Contains(l, "peer=docker-default")) {
			t.Errorf("profile allows %q", l)
		}
	}
	if strings.Count(text, "{") != strings.Count(text, "}") {
		t.Error("unbalanced braces")
	}
	if !strings.HasSuffix(text, "}\n") {
		t.Errorf("profile does not end with its closing brace: %q", text[len(text)-20:])
	}
}

func TestProfileWithoutDistributionFiles(t *testing.T) {
	d := defaultData("docker-default", t.TempDir(), filepath.Join(t.TempDir(), "nonexistent"))
	text := render(t, d)
	if !strings.HasPrefix(text, "@{PROC}=/proc/\n") {
		t.Errorf("no @{PROC} definition without tunables: %q", text[:40])
	}
	if strings.Contains(text, "#include") {
		t.Error("includes what the distribution does not ship")
	}
	if !strings.Contains(text, "signal (receive) peer=unconfined,\n") || d.DaemonProfile != "unconfined" {
		t.Errorf("daemon profile: %q", d.DaemonProfile)
	}

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tunables"), 0o755)
	os.MkdirAll(filepath.Join(dir, "abstractions"), 0o755)
	os.WriteFile(filepath.Join(dir, "tunables/global"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "abstractions/base"), nil, 0o644)
	attr := filepath.Join(t.TempDir(), "current")
	os.WriteFile(attr, []byte("berthd (enforce)\n"), 0o644)
	d = defaultData("docker-default", dir, attr)
	if d.DaemonProfile != "berthd" || len(d.Imports) != 1 || d.Imports[0] != "#include <tunables/global>" || len(d.InnerImports) != 1 {
		t.Errorf("data with distribution files: %+v", d)
	}
}

func TestProfileName(t *testing.T) {
	for _, bad := range []string{"", "a b", "x,y", "a{b}", "a\nb"} {
		if err := Generate(&bytes.Buffer{}, ProfileData{Name: bad}); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		host       bool
		requested  string
		privileged bool
		want       string
	}{
		{false, "", false, ""},
		{false, "", true, ""},
		{false, "custom", false, ""},
		{false, "unconfined", false, ""},
		{true, "", false, DefaultProfile},
		{true, "", true, Unconfined},
		{true, "custom", false, "custom"},
		{true, "custom", true, "custom"},
		{true, "unconfined", false, Unconfined},
		{true, DefaultProfile, true, DefaultProfile},
	} {
		if got := Select(tc.host, tc.requested, tc.privileged); got != tc.want {
			t.Errorf("Select(%v, %q, %v) = %q, want %q", tc.host, tc.requested, tc.privileged, got, tc.want)
		}
	}
}

func TestIsLoaded(t *testing.T) {
	f := filepath.Join(t.TempDir(), "profiles")
	os.WriteFile(f, []byte("docker-default (enforce)\n/usr/bin/man (enforce)\ndocker-default-x (complain)\n"), 0o644)
	for name, want := range map[string]bool{"docker-default": true, "/usr/bin/man": true, "docker": false, "docker-default-x": true, "x": false} {
		if got, err := isLoaded(name, f); err != nil || got != want {
			t.Errorf("isLoaded(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := isLoaded("x", filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("no error without the profiles file")
	}
}

// Support is the kernel's to decide: a host with AppArmor but without
// apparmor_parser still confines (the default profile then fails to load,
// loudly), rather than running every container unconfined.
func TestHostSupports(t *testing.T) {
	dir := t.TempDir()
	enabled := filepath.Join(dir, "enabled")
	sec := filepath.Join(dir, "apparmor")
	t.Setenv("PATH", t.TempDir())
	if hostSupports(enabled, sec) {
		t.Error("supported without the module")
	}
	os.WriteFile(enabled, []byte("N\n"), 0o644)
	os.Mkdir(sec, 0o755)
	if hostSupports(enabled, sec) {
		t.Error("supported with the module disabled")
	}
	os.WriteFile(enabled, []byte("Y\n"), 0o644)
	if !hostSupports(enabled, sec) {
		t.Error("not supported with the module and securityfs, and no apparmor_parser")
	}
	os.Remove(sec)
	if hostSupports(enabled, sec) {
		t.Error("supported without securityfs")
	}
}

// Without apparmor_parser, docker-default cannot be loaded: the error is
// dockerd's, and a loaded profile needs no parser.
func TestEnsureDefaultWithoutParser(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	profiles := filepath.Join(t.TempDir(), "profiles")
	os.WriteFile(profiles, []byte("other (enforce)\n"), 0o644)
	install := func() error { return InstallDefault(DefaultProfile) }
	err := ensureDefault(profiles, install)
	if err == nil || !strings.HasPrefix(err.Error(), "AppArmor enabled on system but the docker-default profile could not be loaded: ") ||
		!strings.Contains(err.Error(), parserName) {
		t.Errorf("got %v", err)
	}
	os.WriteFile(profiles, []byte("docker-default (enforce)\n"), 0o644)
	if err := ensureDefault(profiles, install); err != nil {
		t.Errorf("loaded profile: %v", err)
	}
}

// Where apparmor_parser is installed, the text must compile (-Q: no
// kernel load, so this runs on a host without AppArmor too).
func TestProfileCompiles(t *testing.T) {
	parser, err := exec.LookPath(parserName)
	if err != nil {
		// CI installs it (hack/install-deps.sh); elsewhere the text
		// checks above still run.
		if os.Getenv("CI") == "true" {
			t.Fatal("apparmor_parser not installed")
		}
		t.Skip("apparmor_parser not installed")
	}
	// With the distribution's includes, and without them.
	for _, d := range []ProfileData{DefaultData(DefaultProfile), defaultData(DefaultProfile, t.TempDir(), "/nonexistent")} {
		text := render(t, d)
		cmd := exec.Command(parser, "-QK")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("apparmor_parser rejects the profile: %s\n%s", out, text)
			}
			t.Fatalf("apparmor_parser: %v", err)
		}
	}
}
