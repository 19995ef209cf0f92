package netif

import (
	"fmt"
	"path/filepath"
	"strings"
)

// SysctlPath turns one of an endpoint's interface sysctls, in dockerd's
// form "net.X.Y.IFNAME.Z=V" (the CLI lower-cases it to "ifname"), into the
// file under /proc/sys for the interface ifName and the value to write.
// The interface's own name cannot be given because the user does not know
// it; ifName may contain dots, which is why the path is built from parts.
func SysctlPath(sysctl, ifName string) (path, value string, err error) {
	key, value, ok := strings.Cut(sysctl, "=")
	parts := strings.SplitN(strings.TrimSpace(key), ".", 5)
	if !ok || len(parts) != 5 || parts[0] != "net" ||
		(parts[1] != "ipv4" && parts[1] != "ipv6" && parts[1] != "mpls") ||
		(parts[3] != "IFNAME" && parts[3] != "ifname") || parts[4] == "" {
		return "", "", fmt.Errorf("unrecognised network interface sysctl '%s'; represent 'net.X.Y.ethN.Z=V' as 'net.X.Y.IFNAME.Z=V', 'X' must be 'ipv4', 'ipv6' or 'mpls'", sysctl)
	}
	leaf := strings.ReplaceAll(parts[4], ".", "/")
	return filepath.Join("/proc/sys/net", parts[1], parts[2], ifName, leaf), strings.TrimSpace(value), nil
}

// SetSysctls writes an endpoint's interface sysctls (see SysctlPath) for
// the device ifName inside the namespace.
func (n *Netns) SetSysctls(ifName string, sysctls []string) error {
	if len(sysctls) == 0 {
		return nil
	}
	return n.Do(func() error {
		for _, sc := range sysctls {
			path, v, err := SysctlPath(sc, ifName)
			if err != nil {
				return err
			}
			if err := writeSysctl(path, v); err != nil {
				return fmt.Errorf("failed to set sysctl %s: %w", sc, err)
			}
		}
		return nil
	})
}
