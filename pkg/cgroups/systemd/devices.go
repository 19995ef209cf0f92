package systemd

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// deviceAllow is one DeviceAllow= entry, as the D-Bus property takes it.
type deviceAllow struct {
	Path  string
	Perms string
}

// DeviceProperties say the v1 device rules as DevicePolicy and
// DeviceAllow. Without them systemd, whenever it re-applies the unit
// (daemon-reload), writes "a" to the scope's devices.allow and opens
// every device node to the container. systemd knows only allow lists:
// the rules (last match wins, an "a" rule resets the default) are
// replayed into one, and the cgroup files, written after the scope
// starts, remain exact where the list cannot be.
func DeviceProperties(rules []specs.LinuxDeviceCgroup) []sddbus.Property {
	allowAll, list, denyInAllow := replayDeviceRules(rules)
	if allowAll {
		if denyInAllow {
			logrus.Warn("systemd has no deny list for device rules: the scope allows every device, the cgroup files deny")
		}
		// The empty DeviceAllow clears what an earlier update left.
		return []sddbus.Property{prop("DevicePolicy", "auto"), prop("DeviceAllow", []deviceAllow{})}
	}
	entries := []deviceAllow{}
	for _, r := range list {
		if e, ok := deviceEntry(r); ok {
			entries = append(entries, e)
		}
	}
	return []sddbus.Property{prop("DevicePolicy", "strict"), prop("DeviceAllow", entries)}
}

// anyNumber says whether a rule's major or minor matches every number:
// unset, or -1 as dockerd and berth write it.
func anyNumber(n *int64) bool { return n == nil || *n < 0 }

func isWildcardRule(r specs.LinuxDeviceCgroup) bool {
	return (r.Type == "" || r.Type == "a") && anyNumber(r.Major) && anyNumber(r.Minor)
}

func sameDevices(a, b specs.LinuxDeviceCgroup) bool {
	eq := func(x, y *int64) bool { return anyNumber(x) == anyNumber(y) && (anyNumber(x) || *x == *y) }
	return a.Type == b.Type && eq(a.Major, b.Major) && eq(a.Minor, b.Minor)
}

// replayDeviceRules applies rules in order to a new cgroup, which allows
// every device: the result is the default and, under a deny default, the
// allowed entries. denyInAllow reports a deny rule under an allow
// default, which no allow list can say.
func replayDeviceRules(rules []specs.LinuxDeviceCgroup) (allowAll bool, list []specs.LinuxDeviceCgroup, denyInAllow bool) {
	allowAll = true
	for _, r := range rules {
		switch {
		case isWildcardRule(r):
			allowAll, list, denyInAllow = r.Allow, nil, false
		case r.Allow && !allowAll:
			list = append(list, r)
		case !r.Allow && allowAll:
			denyInAllow = true
		case !r.Allow:
			kept := list[:0]
			for _, a := range list {
				if !sameDevices(a, r) {
					kept = append(kept, a)
				}
			}
			list = kept
		}
	}
	return allowAll, list, denyInAllow
}

// deviceEntry names r's devices the way DeviceAllow does: a node path
// (/dev/char/1:3) for one device, a /proc/devices group (char-pts) for
// all minors of a major, "char-*" for every device of the type.
func deviceEntry(r specs.LinuxDeviceCgroup) (deviceAllow, bool) {
	perms := r.Access
	if perms == "" {
		perms = "rwm"
	}
	kind := map[string]string{"c": "char", "b": "block"}[r.Type]
	if kind == "" {
		// "a" with numbers: both types.
		logrus.WithField("rule", fmt.Sprintf("%+v", r)).Warn("systemd cannot say a device rule of type a with numbers: left to the cgroup files")
		return deviceAllow{}, false
	}
	switch {
	case anyNumber(r.Major) && anyNumber(r.Minor):
		return deviceAllow{Path: kind + "-*", Perms: perms}, true
	case anyNumber(r.Major):
		logrus.WithField("rule", fmt.Sprintf("%+v", r)).Warn("systemd cannot say a device rule for one minor of every major: left to the cgroup files")
		return deviceAllow{}, false
	case anyNumber(r.Minor):
		group := deviceGroup(kind, *r.Major)
		if group == "" {
			return deviceAllow{}, false
		}
		return deviceAllow{Path: kind + "-" + group, Perms: perms}, true
	}
	return deviceAllow{Path: fmt.Sprintf("/dev/%s/%d:%d", kind, *r.Major, *r.Minor), Perms: perms}, true
}

// deviceGroup is the name /proc/devices gives major in its "Character
// devices:" or "Block devices:" section.
func deviceGroup(kind string, major int64) string {
	f, err := os.Open("/proc/devices")
	if err != nil {
		return ""
	}
	defer f.Close()
	section := map[string]string{"char": "Character devices:", "block": "Block devices:"}[kind]
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasSuffix(line, ":") {
			in = line == section
			continue
		}
		num, name, ok := strings.Cut(line, " ")
		if in && ok {
			if n, err := strconv.ParseInt(num, 10, 64); err == nil && n == major {
				return strings.TrimSpace(name)
			}
		}
	}
	return ""
}
