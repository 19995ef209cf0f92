package apparmor

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
)

const (
	// DefaultProfile is the profile containers get unless they ask for
	// another or are privileged: dockerd's name for it.
	DefaultProfile = "docker-default"
	// Unconfined is the name that asks for no profile.
	Unconfined = "unconfined"
)

// The places the kernel and the distribution keep AppArmor's state.
const (
	enabledFile  = "/sys/module/apparmor/parameters/enabled"
	securityDir  = "/sys/kernel/security/apparmor"
	profilesFile = "/sys/kernel/security/apparmor/profiles"
	profileDir   = "/etc/apparmor.d"
	parserName   = "apparmor_parser"
)

var (
	hostOnce      sync.Once
	hostSupported bool
)

// HostSupports reports whether the host confines with AppArmor: the
// kernel decides, as for runc, containerd and dockerd (the module is
// enabled and securityfs shows it). apparmor_parser is needed only to load
// docker-default; a host without it still applies profiles that are
// loaded, and a container that needs docker-default fails to start with
// the reason, rather than running unconfined. It is decided once per
// process.
func HostSupports() bool {
	hostOnce.Do(func() {
		hostSupported = hostSupports(enabledFile, securityDir)
	})
	return hostSupported
}

func hostSupports(enabled, secDir string) bool {
	if _, err := os.Stat(secDir); err != nil {
		return false
	}
	b, err := os.ReadFile(enabled)
	return err == nil && bytes.HasPrefix(b, []byte("Y"))
}

// Select is the profile for a process of a container: what the container
// asked for (--security-opt apparmor=NAME, "unconfined" included), else
// unconfined for a privileged one and DefaultProfile for the others, as
// dockerd decides. On a host without AppArmor it is "" (nothing applied),
// whatever was asked. Execs get their container's profile: exec
// --privileged does not lift it, as under dockerd.
func Select(hostSupports bool, requested string, privileged bool) string {
	switch {
	case !hostSupports:
		return ""
	case requested != "":
		return requested
	case privileged:
		return Unconfined
	default:
		return DefaultProfile
	}
}

// IsLoaded reports whether the kernel has a profile of that name.
func IsLoaded(name string) (bool, error) { return isLoaded(name, profilesFile) }

func isLoaded(name, file string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "name (enforce)"; profile names hold no spaces.
		if n, _, _ := strings.Cut(sc.Text(), " "); n == name {
			return true, nil
		}
	}
	return false, sc.Err()
}

// ProfileData fills the profile template.
type ProfileData struct {
	// Name is the profile's name.
	Name string
	// DaemonProfile is the profile the engine runs under ("unconfined"
	// mostly): the shims that signal containers run under it too.
	DaemonProfile string
	// Imports go before the profile, InnerImports inside it.
	Imports, InnerImports []string
}

// DefaultData is the data for the default profile on this host: the
// distribution's tunables and base abstraction where it ships them, and
// the engine's own profile as the signal peer.
func DefaultData(name string) ProfileData {
	return defaultData(name, profileDir, "/proc/self/attr/current")
}

func defaultData(name, dir, attrCurrent string) ProfileData {
	d := ProfileData{Name: name, DaemonProfile: Unconfined}
	if b, err := os.ReadFile(attrCurrent); err == nil {
		if p, _, _ := strings.Cut(strings.TrimSpace(string(b)), " "); p != "" {
			d.DaemonProfile = p
		}
	}
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(dir, p)); return err == nil }
	if exists("tunables/global") {
		d.Imports = append(d.Imports, "#include <tunables/global>")
	} else {
		d.Imports = append(d.Imports, "@{PROC}=/proc/")
	}
	if exists("abstractions/base") {
		d.InnerImports = append(d.InnerImports, "#include <abstractions/base>")
	}
	return d
}

// profileTemplate carries docker-default's rules: everything a process
// normally does is allowed, and the kernel interfaces that reach past the
// container (writes to /proc outside its own processes and
// kernel.shm*, sysrq, kcore, mounts, writes to /sys outside cgroupfs,
// firmware, RAPL power counters, securityfs) are denied.
var profileTemplate = template.Must(template.New("profile").Parse(`{{range .Imports}}{{.}}
{{end}}
profile {{.Name}} flags=(attach_disconnected,mediate_deleted) {
{{- range .InnerImports}}
  {{.}}
{{- end}}

  network,
  capability,
  file,
  umount,
  # Processes of the host (privileged ones) may signal the container.
  signal (receive) peer=unconfined,
  # So may an OCI runtime that stops it (runc, crun) ...
  signal (receive) peer=runc,
  signal (receive) peer=crun,
  # ... and the engine and its shims, for docker kill and stop.
  signal (receive) peer={{.DaemonProfile}},
  # The container's processes may signal one another.
  signal (send,receive) peer={{.Name}},

  # No writes to files directly in /proc,
  deny @{PROC}/* w,
  # nor below it outside /proc/<pid>/ and /proc/sys/,
  deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}/** w,
  # nor in /proc/sys outside /proc/sys/kernel,
  deny @{PROC}/sys/[^k]** w,
  # and in /proc/sys/kernel to shm* only.
  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,
  deny @{PROC}/sysrq-trigger rwklx,
  deny @{PROC}/kcore rwklx,

  deny mount,

  # Nothing in /sys is written but cgroupfs.
  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  deny /sys/firmware/** rwklx,
  # RAPL energy counters leak what other tenants compute (PLATYPUS).
  deny /sys/devices/virtual/powercap/** rwklx,
  deny /sys/kernel/security/** rwklx,

  # ps inside the container, and docker top, read their peers.
  ptrace (trace,read,tracedby,readby) peer={{.Name}},
}
`))

// Generate writes the profile text for d.
func Generate(w io.Writer, d ProfileData) error {
	if d.Name == "" || strings.ContainsAny(d.Name, " \t\n,{}") {
		return fmt.Errorf("invalid AppArmor profile name %q", d.Name)
	}
	if d.DaemonProfile == "" {
		d.DaemonProfile = Unconfined
	}
	return profileTemplate.Execute(w, d)
}

// InstallDefault generates the default profile under name and loads it
// into the kernel, replacing one of that name.
func InstallDefault(name string) error {
	var buf bytes.Buffer
	if err := Generate(&buf, DefaultData(name)); err != nil {
		return err
	}
	return load(buf.Bytes())
}

// load hands a profile to apparmor_parser on its standard input: -r
// replaces a loaded profile of the same name, -K keeps the parser from
// writing a cache (the host's /etc may be read-only).
func load(profile []byte) error {
	cmd := exec.Command(parserName, "-Kr")
	cmd.Stdin = bytes.NewReader(profile)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("running '%s -Kr' failed with output: %s\nerror: %v", parserName, out, err)
	}
	return nil
}

var ensureMu sync.Mutex

// EnsureDefault loads DefaultProfile unless the kernel has it already:
// the distribution's tools may unload profiles they do not know (an
// upgrade reloading AppArmor), so it is checked again before each use, as
// dockerd does.
func EnsureDefault() error {
	return ensureDefault(profilesFile, func() error { return InstallDefault(DefaultProfile) })
}

func ensureDefault(profiles string, install func() error) error {
	ensureMu.Lock()
	defer ensureMu.Unlock()
	loaded, err := isLoaded(DefaultProfile, profiles)
	if err != nil {
		return fmt.Errorf("Could not check if %s AppArmor profile was loaded: %s", DefaultProfile, err)
	}
	if loaded {
		return nil
	}
	if err := install(); err != nil {
		return fmt.Errorf("AppArmor enabled on system but the %s profile could not be loaded: %s", DefaultProfile, err)
	}
	return nil
}
