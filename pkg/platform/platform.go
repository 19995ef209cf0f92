package platform

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/berthd/berth/pkg/errdefs"
)

// knownOS and knownArch are the GOOS and GOARCH values (with their common
// aliases) containerd recognises.
var knownOS = map[string]bool{
	"aix": true, "android": true, "darwin": true, "dragonfly": true, "freebsd": true, "hurd": true,
	"illumos": true, "ios": true, "js": true, "linux": true, "nacl": true, "netbsd": true,
	"openbsd": true, "plan9": true, "solaris": true, "wasip1": true, "windows": true, "zos": true,
	"macos": true,
}

var knownArch = map[string]bool{
	"386": true, "amd64": true, "amd64p32": true, "arm": true, "armbe": true, "arm64": true,
	"arm64be": true, "ppc64": true, "ppc64le": true, "loong64": true, "mips": true, "mipsle": true,
	"mips64": true, "mips64le": true, "mips64p32": true, "mips64p32le": true, "ppc": true,
	"riscv": true, "riscv64": true, "s390": true, "s390x": true, "sparc": true, "sparc64": true,
	"wasm": true,
	// aliases containerd normalises
	"i386": true, "x86_64": true, "x86-64": true, "aarch64": true, "armhf": true, "armel": true,
}

var (
	osAndVersion = regexp.MustCompile(`^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.-]*)\))?$`)
	component    = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// Check rejects a specifier containerd's platforms.Parse would refuse,
// with its message: bad characters anywhere, and a lone word that is
// neither a known OS nor a known architecture ("...: unknown operating
// system or architecture: invalid argument"). An os/arch pair is taken as
// given, known or not: whether an image has it is another question. An
// empty specifier is valid (the daemon's own platform).
func Check(s string) error {
	if s == "" {
		return nil
	}
	if strings.Contains(s, "*") {
		return errdefs.InvalidParameter(fmt.Errorf("%q: wildcards not yet supported: invalid argument", s))
	}
	parts := strings.SplitN(s, "/", 4)
	for i, p := range parts {
		if i == 0 {
			if !osAndVersion.MatchString(p) {
				return errdefs.InvalidParameter(fmt.Errorf("%q is an invalid OS component of %q: OSAndVersion specifier component must match %q: invalid argument", p, s, osAndVersion.String()))
			}
			continue
		}
		if !component.MatchString(p) {
			return errdefs.InvalidParameter(fmt.Errorf("%q is an invalid component of %q: platform specifier component must match %q: invalid argument", p, s, component.String()))
		}
	}
	switch len(parts) {
	case 1:
		w := strings.ToLower(osAndVersion.FindStringSubmatch(parts[0])[1])
		if !knownOS[w] && !knownArch[w] {
			return errdefs.InvalidParameter(fmt.Errorf("%q: unknown operating system or architecture: invalid argument", s))
		}
	case 4:
		return errdefs.InvalidParameter(fmt.Errorf("%q: cannot parse platform specifier: invalid argument", s))
	}
	return nil
}

// OS is the operating system a specifier that Check accepts names, in
// lower case, with containerd's alias "macos" read as "darwin"; a lone
// architecture ("arm64") names none and gets "".
func OS(s string) string {
	parts := strings.SplitN(s, "/", 4)
	m := osAndVersion.FindStringSubmatch(parts[0])
	if m == nil {
		return ""
	}
	w := strings.ToLower(m[1])
	if len(parts) == 1 && !knownOS[w] {
		return ""
	}
	if w == "macos" {
		return "darwin"
	}
	return w
}
