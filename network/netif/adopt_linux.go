package netif

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Adopt moves the host's link hostName (one a network driver plugin
// made) into the namespace and renames it name there, with mac when one
// is given; Configure then sets it up. On error the link is left in the
// host's namespace under its own name, for the plugin to delete.
func (n *Netns) Adopt(hostName, name string, mac net.HardwareAddr) error {
	link, err := netlink.LinkByName(hostName)
	if err != nil {
		return fmt.Errorf("the network driver's interface %s was not found: %w", hostName, err)
	}
	if err := netlink.LinkSetDown(link); err != nil {
		return err
	}
	if err := netlink.LinkSetNsFd(link, int(n.ns)); err != nil {
		return fmt.Errorf("move %s into the container: %w", hostName, err)
	}
	inside, err := n.h.LinkByName(hostName)
	if err == nil && len(mac) == 6 {
		err = n.h.LinkSetHardwareAddr(inside, mac)
	}
	if err == nil && name != hostName {
		err = n.h.LinkSetName(inside, name)
	}
	if err != nil {
		n.giveBack(hostName)
		return err
	}
	return nil
}

// Release moves the link name back to the host's namespace under
// hostName, where the plugin that made it deletes it. One that is gone
// (with its namespace) is no error.
func (n *Netns) Release(name, hostName string) error {
	link, err := n.existing(name)
	if link == nil {
		return err
	}
	n.h.LinkSetDown(link)
	if name != hostName {
		if err := n.h.LinkSetName(link, hostName); err != nil {
			return err
		}
	}
	return n.giveBack(hostName)
}

// giveBack moves the link named name from the namespace to the host's.
func (n *Netns) giveBack(name string) error {
	link, err := n.h.LinkByName(name)
	if err != nil {
		return err
	}
	self, err := netns.Get()
	if err != nil {
		return err
	}
	defer self.Close()
	return n.h.LinkSetNsFd(link, int(self))
}
