package vlan

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT)
}

// Exists reports whether a device of that name is in the host's namespace.
func Exists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// ParseSubInterface splits an 802.1q sub-interface name, "eth0.10", into
// its lower device and VLAN id, with dockerd's messages. The lower device
// must exist.
func ParseSubInterface(name string) (lower string, id int, err error) {
	if !strings.Contains(name, ".") {
		return "", 0, fmt.Errorf("invalid subinterface vlan name %s, example formatting is eth0.10", name)
	}
	parts := strings.Split(name, ".")
	if len(parts) != 2 {
		return "", 0, fmt.Errorf("required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received %s", name)
	}
	id, err = strconv.Atoi(parts[1])
	if err != nil {
		return "", 0, fmt.Errorf("unable to parse a valid vlan id from: %s (ex. eth0.10 for vlan 10)", parts[1])
	}
	if !Exists(parts[0]) {
		return "", 0, fmt.Errorf("-o parent interface was not found on the host: %s", parts[0])
	}
	if id < 1 || id > 4094 {
		// The VID is 12 bits; 0 and 4095 are reserved.
		return "", 0, fmt.Errorf("vlan id must be between 1-4094, received: %d", id)
	}
	return parts[0], id, nil
}

// CheckParent reports, changing nothing, why EnsureParent would fail: a
// parent that neither exists nor can be made as a sub-interface. A dummy
// parent can always be made.
func CheckParent(name string, dummy bool) error {
	if dummy || Exists(name) {
		return nil
	}
	_, _, err := ParseSubInterface(name)
	return err
}

// EnsureParent makes sure the parent exists: an existing device is used
// as it is; otherwise a dummy link (dummy set) or the VLAN sub-interface
// its name describes is created and brought up. created tells the caller
// whether berth made it, which is what allows DeleteParent later.
func EnsureParent(name string, dummy bool) (created bool, err error) {
	if Exists(name) {
		return false, nil
	}
	var link netlink.Link
	if dummy {
		link = &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}}
	} else {
		lowerName, id, err := ParseSubInterface(name)
		if err != nil {
			return false, err
		}
		lower, err := netlink.LinkByName(lowerName)
		if err != nil {
			return false, fmt.Errorf("failed to find master interface %s on the host: %w", lowerName, err)
		}
		link = &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: lower.Attrs().Index}, VlanId: id}
	}
	if err := netlink.LinkAdd(link); err != nil {
		return false, fmt.Errorf("failed to create %s %s link: %w", name, link.Type(), err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		netlink.LinkDel(link)
		return false, fmt.Errorf("failed to enable %s the parent link: %w", name, err)
	}
	return true, nil
}

// DeleteParent removes a parent berth created. It refuses a device that is
// not what berth makes under that name (a dummy for a dummy parent, a
// VLAN link on a lower device otherwise), and a missing one is no error.
func DeleteParent(name string, dummy bool) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	switch l := link.(type) {
	case *netlink.Dummy:
		if !dummy {
			return fmt.Errorf("link %s is not a vlan sub-interface", name)
		}
	case *netlink.Vlan:
		if dummy || l.ParentIndex == 0 {
			return fmt.Errorf("interface %s does not appear to be a slave device", name)
		}
	default:
		return fmt.Errorf("link %s is a %s, not a parent berth created", name, link.Type())
	}
	if err := netlink.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("failed to delete %s link: %w", name, err)
	}
	return nil
}
