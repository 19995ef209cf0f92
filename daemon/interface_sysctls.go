package daemon

import (
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/network/netif"
	"github.com/berthd/berth/pkg/errdefs"
)

// A --sysctl for one network interface (net.ipv4.conf.eth0.forwarding)
// cannot be set by the runtime: berth wires the network while the init
// prepares its root, side by side, and the interface may not exist yet
// when the runtime writes the sysctls (dockerd's order is the reverse).
// Such sysctls stay out of the spec and are written once the network is
// up, before the container's process runs.

// interfaceSysctl splits a sysctl key naming one interface into the form
// netif.SysctlPath reads ("net.X.Y.IFNAME.Z") and the interface name; ok
// is false for any other key (all, default and lo are there from the
// start).
func interfaceSysctl(key string) (generic, ifName string, ok bool) {
	parts := strings.SplitN(key, ".", 5)
	if len(parts) != 5 || parts[0] != "net" || (parts[1] != "ipv4" && parts[1] != "ipv6" && parts[1] != "mpls") ||
		(parts[2] != "conf" && parts[2] != "neigh") {
		return "", "", false
	}
	switch parts[3] {
	case "all", "default", "lo", "":
		return "", "", false
	}
	return strings.Join([]string{parts[0], parts[1], parts[2], "IFNAME", parts[4]}, "."), parts[3], true
}

// setInterfaceSysctls writes the container's interface sysctls in the
// network namespace of pid, once its interfaces exist.
func setInterfaceSysctls(hc *container.HostConfig, pid int) error {
	byIf := map[string][]string{}
	for _, k := range sortedKeys(hc.Sysctls) {
		if generic, ifName, ok := interfaceSysctl(k); ok {
			byIf[ifName] = append(byIf[ifName], generic+"="+hc.Sysctls[k])
		}
	}
	if len(byIf) == 0 {
		return nil
	}
	ns, err := netif.OpenContainer(netnsPath(pid), 0)
	if err != nil {
		return errdefs.System(err)
	}
	defer ns.Close()
	for _, ifName := range sortedKeys(byIf) {
		if err := ns.SetSysctls(ifName, byIf[ifName]); err != nil {
			return errdefs.InvalidParameter(fmt.Errorf("failed to create task for container: %w", err))
		}
	}
	return nil
}
