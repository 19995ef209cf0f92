package daemon

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"

	ctr "github.com/berthd/berth/container"
	berthnet "github.com/berthd/berth/network"
	"github.com/berthd/berth/pkg/errdefs"
)

// envKeepLegacyLinkEnv is dockerd's escape hatch that brings back the
// environment variables of legacy links, which it no longer sets.
const envKeepLegacyLinkEnv = "DOCKER_KEEP_DEPRECATED_LEGACY_LINKS_ENV_VARS"

// warnLegacyLinks is dockerd's create warning for --link on the default
// bridge.
const warnLegacyLinks = "Links on the default bridge network are deprecated and will be removed in a future release. Use a custom network instead."

// keepLegacyLinkEnv reports whether linked containers get the
// ALIAS_PORT…, ALIAS_NAME, ALIAS_ENV_… variables.
func keepLegacyLinkEnv() bool { return os.Getenv(envKeepLegacyLinkEnv) == "1" }

// parseLink splits one --link as dockerd does: "name", "name:alias", or
// the "/name:/parent/alias" form inspect shows (a config copied from
// another container).
func parseLink(l string) (name, alias string, err error) {
	if l == "" {
		return "", "", errdefs.InvalidParameterf("empty string specified for links")
	}
	parts := strings.Split(l, ":")
	switch {
	case len(parts) > 2:
		return "", "", errdefs.InvalidParameterf("bad format for links: %s", l)
	case len(parts) == 1:
		return strings.TrimPrefix(l, "/"), strings.TrimPrefix(l, "/"), nil
	case strings.HasPrefix(parts[0], "/"):
		return parts[0][1:], path.Base(parts[1]), nil
	}
	return parts[0], parts[1], nil
}

// usesLegacyLinks says whether a container's --link entries are legacy
// links: on a user-defined network they are DNS aliases instead, and
// dockerd binds nothing.
func usesLegacyLinks(hc *container.HostConfig) bool {
	mode := berthnet.ParseMode(string(hc.NetworkMode))
	return mode.Kind != "bridge" || berthnet.IsPredefined(mode.Network)
}

// legacyLinkTargets resolves a new container's links to the containers
// they name now (alias → ID), as dockerd's link graph does at create: a
// later rename of either side keeps them. A target sharing another
// container's network namespace stands for that container.
func (d *Daemon) legacyLinkTargets(hc *container.HostConfig) (map[string]string, error) {
	if len(hc.Links) == 0 || !usesLegacyLinks(hc) {
		return nil, nil
	}
	targets := map[string]string{}
	for _, l := range hc.Links {
		name, alias, err := parseLink(l)
		if err != nil {
			return nil, err
		}
		t, err := d.containers.Get(name)
		if err != nil {
			return nil, errdefs.InvalidParameterf("could not get container for %s: %v", name, err)
		}
		for seen := 0; ; seen++ {
			t.Lock()
			mode := berthnet.ParseMode(string(t.HostConfig.NetworkMode))
			t.Unlock()
			if mode.Kind == "host" {
				return nil, errdefs.InvalidParameterf("conflicting options: host type networking can't be used with links. This would result in undefined behavior")
			}
			if mode.Kind != "container" || seen > 16 {
				break
			}
			if t, err = d.containers.Get(mode.Container); err != nil {
				return nil, errdefs.InvalidParameterf("could not get container for %s: %v", mode.Container, err)
			}
		}
		targets[alias] = t.ID
	}
	return targets, nil
}

// inspectLinks is HostConfig.Links as dockerd's inspect shows it:
// "/target:/self/alias" for each legacy link whose target still exists.
func (d *Daemon) inspectLinks(c *ctr.Container) []string {
	if !usesLegacyLinks(c.HostConfig) {
		// Links on a user-defined network are DNS aliases: dockerd
		// shows none.
		return nil
	}
	if c.LinkTargets == nil {
		// A container from before links were bound keeps what it was
		// created with.
		return c.HostConfig.Links
	}
	var out []string
	for alias, id := range c.LinkTargets {
		if name := d.containers.NameOf(id); name != "" {
			out = append(out, fmt.Sprintf("%s:%s/%s", name, c.Name, alias))
		}
	}
	sort.Strings(out)
	return out
}

// removeLink answers `docker rm --link /parent/alias`: the link goes, the
// containers stay.
func (d *Daemon) removeLink(ref string) error {
	name := "/" + strings.TrimPrefix(ref, "/")
	parentName, alias := path.Split(name)
	if parentName == "/" {
		return errdefs.InvalidParameterf("Conflict, cannot remove the default link name of the container")
	}
	parentName = strings.TrimSuffix(parentName, "/")
	notParent := errdefs.System(fmt.Errorf("Cannot get parent %s for link name %s", parentName, name))
	parent, err := d.containers.Get(parentName)
	if err != nil {
		return notParent
	}
	parent.Lock()
	defer parent.Unlock()
	if parent.Name != parentName {
		return notParent
	}
	if _, ok := parent.LinkTargets[alias]; !ok {
		return errdefs.NotFoundf("No such container: %s", strings.TrimPrefix(ref, "/"))
	}
	delete(parent.LinkTargets, alias)
	d.containers.ReleaseLink(name)
	if err := parent.Save(); err != nil {
		return errdefs.System(err)
	}
	return nil
}

// boundLinks are c's links bound at create, by alias, to the containers
// that still exist.
func (d *Daemon) boundLinks(c *ctr.Container) []link {
	aliases := make([]string, 0, len(c.LinkTargets))
	for alias := range c.LinkTargets {
		aliases = append(aliases, alias)
	}
	sort.Strings(aliases)
	var out []link
	for _, alias := range aliases {
		id := c.LinkTargets[alias]
		t, err := d.containers.Get(id)
		if err != nil || t.ID != id {
			continue
		}
		out = append(out, link{target: t, name: trimSlash(d.containers.NameOf(id)), alias: alias})
	}
	return out
}
