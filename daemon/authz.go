package daemon

import (
	"context"

	volumeplugin "github.com/berthd/berth/volume/plugin"
)

// authzKind is the capability authorization plugins offer.
const authzKind = "authz"

// AuthzChain lists the authorization plugins every API request goes
// through (--authorization-plugin), less those disabled since the last
// reload.
func (d *Daemon) AuthzChain() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if len(d.authzOff) == 0 {
		return d.cfg.AuthorizationPlugins
	}
	var out []string
	for _, n := range d.cfg.AuthorizationPlugins {
		if !d.authzOff[n] {
			out = append(out, n)
		}
	}
	return out
}

// AuthzPlugin finds the authorization plugin named name: a managed one, or
// a legacy one by socket or spec file.
func (d *Daemon) AuthzPlugin(ctx context.Context, name string) (*volumeplugin.Plugin, error) {
	return d.pluginRegistry.Get(ctx, name, authzKind)
}

// authzDisabled takes a disabled managed plugin out of the chain, under
// whichever name the chain gives it, as dockerd's disable does.
func (d *Daemon) authzDisabled(fullName string) {
	// The names are resolved before d.mu is taken: Daemon.mu is the last
	// lock in the order (doc.go), and the plugin manager has its own.
	var off []string
	for _, n := range d.AuthzChain() {
		if n == fullName {
			off = append(off, n)
		} else if full, ok := d.plugins.Name(n); ok && full == fullName {
			off = append(off, n)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range off {
		d.markAuthzOff(n)
	}
}

func (d *Daemon) markAuthzOff(name string) {
	if d.authzOff == nil {
		d.authzOff = map[string]bool{}
	}
	d.authzOff[name] = true
}
