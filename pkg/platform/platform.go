package platform

import (
	"fmt"
	"strings"

	"github.com/berthd/berth/pkg/errdefs"
)

// knownOS and knownArch are the GOOS and GOARCH values (with their common
// aliases) containerd recognises.
var knownOS = map[string]bool{
	"aix": true, "android": true, "darwin": true, "dragonfly": true, "freebsd": true, "hurd": true,
	"illumos": true, "ios": true, "js": true, "linux": true, "nacl": true, "netbsd": true,
	"openbsd": true, "plan9": true, "solaris": true, "wasip1": true, "windows": true, "zos": true,
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

// Check rejects a specifier containerd's parser would refuse, with its
// message ("...: unknown operating system or architecture: invalid
// argument"). An empty specifier is valid (the daemon's own platform).
func Check(s string) error {
	if s == "" {
		return nil
	}
	bad := errdefs.InvalidParameter(fmt.Errorf("%q: unknown operating system or architecture: invalid argument", s))
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) > 3 {
		return bad
	}
	for _, p := range parts {
		if p == "" {
			return bad
		}
	}
	switch len(parts) {
	case 1:
		// A lone word is an OS or an architecture.
		if !knownOS[parts[0]] && !knownArch[parts[0]] {
			return bad
		}
	default:
		if !knownOS[parts[0]] || !knownArch[parts[1]] {
			return bad
		}
	}
	return nil
}
