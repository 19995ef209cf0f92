package daemon

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/sirupsen/logrus"

	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/faultpoint"
	"github.com/berthd/berth/pkg/stringid"
)

// connectContainer joins a container to one more network (docker network
// connect). A running container gets the endpoint now; a created or
// stopped one records the configuration for its next start.
func (d *Daemon) connectContainer(ctx context.Context, r *berthnet.Record, ref string, es *network.EndpointSettings) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	switch {
	case r.Driver == berthnet.DriverHost:
		return errdefs.Forbidden(errHostNetwork)
	case mode.Kind == "host" || mode.Kind == "container":
		return errdefs.Forbidden(errSharedNetwork)
	case mode.Kind == "none" || r.Driver == berthnet.DriverNull:
		return errdefs.Forbidden(errNoNetworkConflict)
	}
	if c.State.RemovalInProgress || c.State.Dead {
		return errdefs.Conflictf("container %s is marked for removal and cannot be connected or disconnected to the network", c.ID)
	}
	if es == nil {
		es = &network.EndpointSettings{}
	}
	if err := validateEndpointSettings(r, es); err != nil {
		return err
	}
	if c.NetworkSettings != nil {
		if cur, ok := c.NetworkSettings.Networks[r.Name]; ok && (cur.EndpointID != "" || !c.State.Running) {
			return errdefs.Forbidden(fmt.Errorf("endpoint with name %s already exists in network %s", trimSlash(c.Name), r.Name))
		}
	}
	explicitNetworks(c)
	c.NetworkConfig.EndpointsConfig[r.Name] = es.Copy()
	if c.NetworkSettings == nil {
		c.NetworkSettings = &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}}
	}
	if c.NetworkSettings.Networks == nil {
		c.NetworkSettings.Networks = map[string]*network.EndpointSettings{}
	}
	// A connect whose container record cannot be saved (a full disk)
	// is undone: it is answered with an error, so the container must
	// not be on the network, now or after a restart (found by
	// hack/torture's full-disk rounds).
	prevNet, hadNet := c.NetworkSettings.Networks[r.Name]
	prevOrder := slices.Clone(c.JoinOrder)
	forget := func() {
		delete(c.NetworkConfig.EndpointsConfig, r.Name)
		if hadNet {
			c.NetworkSettings.Networks[r.Name] = prevNet
		} else {
			delete(c.NetworkSettings.Networks, r.Name)
		}
		c.JoinOrder = prevOrder
	}
	if !c.State.Running {
		c.NetworkSettings.Networks[r.Name] = d.configuredEndpoint(c, r.Name)
		if err := c.Save(); err != nil {
			forget()
			return err
		}
		return nil
	}
	if err := d.joinOne(ctx, c, r.Name, c.State.Pid); err != nil {
		if _, serr := os.Stat(netnsPath(c.State.Pid)); os.IsNotExist(serr) {
			// The process ended while the connect held the lock (its
			// exit is recorded once the lock is free): connected as a
			// stopped container is, joined at the next start.
			c.NetworkSettings.Networks[r.Name] = d.configuredEndpoint(c, r.Name)
			if err := c.Save(); err != nil {
				forget()
				return err
			}
			return nil
		}
		forget()
		return err
	}
	faultpoint.Hit("network.connect.after-join")
	if err := d.publishPorts(ctx, c, []string{r.Name}); err != nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("publishing ports on a connected network")
	}
	wasDNS := d.networks.HasDNS(c.ID)
	if !wasDNS {
		if err := d.startDNSIfNeeded(c); err != nil {
			logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("embedded DNS")
		}
	}
	if err := d.rewriteEtcFiles(c); err != nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("rewriting /etc files")
	}
	if err := c.Save(); err != nil {
		log := logrus.WithField("container", stringid.TruncateID(c.ID))
		// Leave takes the ports published on the network with it and
		// gives the gateway back.
		if lerr := d.networks.Leave(ctx, r.ID, c.ID); lerr != nil {
			log.WithError(lerr).Warn("undoing a connect: leaving the network")
		}
		forget()
		d.recordPorts(c)
		if rerr := d.rewriteEtcFiles(c); rerr != nil {
			log.WithError(rerr).Warn("undoing a connect: rewriting /etc files")
		}
		return err
	}
	return nil
}

// disconnectContainer removes a container from a network (docker network
// disconnect).
func (d *Daemon) disconnectContainer(ctx context.Context, r *berthnet.Record, ref string, force bool) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		if force {
			// dockerd's force disconnect removes a stale endpoint of a
			// container that no longer exists.
			for _, e := range r.Endpoints {
				if e.ContainerID == ref || e.Name == ref || strings.HasPrefix(e.ContainerID, ref) {
					if err := d.networks.Leave(ctx, r.ID, e.ContainerID); err != nil {
						return err
					}
					d.logNetworkContainerEvent(events.ActionDisconnect, r, e.ContainerID)
					return nil
				}
			}
		}
		return err
	}
	c.Lock()
	defer c.Unlock()
	mode := berthnet.ParseMode(string(c.HostConfig.NetworkMode))
	if r.Driver == berthnet.DriverHost && mode.Kind == "host" {
		return errdefs.Forbidden(errHostNetwork)
	}
	_, connected := c.NetworkSettings.Networks[r.Name]
	if c.NetworkSettings == nil || !connected {
		return errdefs.Forbidden(fmt.Errorf("container %s is not connected to network %s", c.ID, r.Name))
	}
	// The record is saved before the endpoint goes: a disconnect that
	// cannot be saved (a full disk) is answered with an error and
	// changes nothing, where it used to leave the container
	// disconnected until its next save (found by hack/torture's
	// full-disk rounds).
	prevNet := c.NetworkSettings.Networks[r.Name]
	prevOrder := slices.Clone(c.JoinOrder)
	explicitNetworks(c)
	prevCfg, hadCfg := c.NetworkConfig.EndpointsConfig[r.Name]
	delete(c.NetworkSettings.Networks, r.Name)
	c.JoinOrder = slices.DeleteFunc(c.JoinOrder, func(n string) bool { return n == r.Name })
	delete(c.NetworkConfig.EndpointsConfig, r.Name)
	if err := c.Save(); err != nil {
		c.NetworkSettings.Networks[r.Name] = prevNet
		c.JoinOrder = prevOrder
		if hadCfg {
			c.NetworkConfig.EndpointsConfig[r.Name] = prevCfg
		}
		return err
	}
	if !c.State.Running {
		return nil
	}
	// Between the record's save and the endpoint's removal: a restart
	// leaves the endpoint the record no longer lists.
	faultpoint.Hit("network.disconnect.midway")
	// What was published or opened on this network's address goes with
	// the endpoint; if it was a gateway, the ports move to the next
	// (network.Manager.Leave).
	if err := d.networks.Leave(ctx, r.ID, c.ID); err != nil {
		return err
	}
	d.logNetworkContainerEvent(events.ActionDisconnect, r, c.ID)
	d.recordPorts(c)
	if err := d.rewriteEtcFiles(c); err != nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("rewriting /etc files")
	}
	// The ports where the move put them; the disconnect itself is
	// already recorded.
	saveOrLog(c)
	return nil
}
