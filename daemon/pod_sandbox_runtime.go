package daemon

import (
	"net"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/errdefs"
)

// PodNetworkReady is nil once a CNI network configuration exists, else
// why pods cannot get a network.
func (d *Daemon) PodNetworkReady() error { return d.pods().network.Ready() }

// UpdatePodCIDR takes the node's pod CIDR from kubelet. The CNI
// configuration decides pod addresses, so it is checked and logged only,
// as containerd does without a CNI template.
func (d *Daemon) UpdatePodCIDR(cidr string) error {
	if cidr == "" {
		return nil
	}
	for _, c := range strings.Split(cidr, ",") {
		if _, _, err := net.ParseCIDR(c); err != nil {
			return errdefs.InvalidParameterf("pod CIDR %q: %v", c, err)
		}
	}
	logrus.WithField("cidr", cidr).Info("pod CIDR updated")
	return nil
}

// RuntimeVersion is the engine's version, which the CRI reports as the
// runtime's.
func (d *Daemon) RuntimeVersion() string { return d.SystemVersion().Version }

// CgroupDriver is the cgroup driver the CRI reports to kubelet.
func (d *Daemon) CgroupDriver() string { return d.cgroupDriverName() }
