package plugin

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/plugin"

	"github.com/berthd/berth/pkg/errdefs"
)

// initialSettings are a new plugin's settings: its config's defaults.
func initialSettings(c plugin.Config) plugin.Settings {
	s := plugin.Settings{
		Mounts:  append([]plugin.Mount{}, c.Mounts...),
		Devices: append([]plugin.Device{}, c.Linux.Devices...),
		Env:     []string{},
		Args:    append([]string{}, c.Args.Value...),
	}
	for _, e := range c.Env {
		if e.Value != nil {
			s.Env = append(s.Env, e.Name+"="+*e.Value)
		}
	}
	return s
}

// The fields a setting may name, per kind, as dockerd allows them.
var (
	settableEnv     = []string{"value"}
	settableArgs    = []string{"value"}
	settableDevices = []string{"path"}
	settableMounts  = []string{"source"}
)

// setting is one `name[.field][=value]` argument of `docker plugin set`.
type setting struct{ name, field, value string }

func (s setting) pretty() string {
	if s.field != "" {
		return s.name + "." + s.field
	}
	return s.name
}

func parseSetting(arg string) (setting, error) {
	var s setting
	name, value, hasValue := strings.Cut(arg, "=")
	if hasValue && name == "" {
		return s, errors.New("invalid format, must be <name>[.<field>][=<value>]")
	}
	s.name, s.value = name, value
	if i := strings.LastIndex(s.name, "."); i > 0 {
		s.name, s.field = name[:i], name[i+1:]
	}
	return s, nil
}

// allowed says whether the setting may change a value whose config lists
// settable as its settable fields; with no field named and one settable,
// that one is meant.
func (s *setting) allowed(kinds, settable []string) (bool, error) {
	if s.field == "" {
		switch {
		case len(settable) == 1:
			s.field = settable[0]
		case len(settable) > 1:
			return false, errors.New("multiple fields are settable, one must be specified")
		}
	}
	return slices.Contains(kinds, s.field) && slices.Contains(settable, s.field), nil
}

// applySettings changes r's settings as `docker plugin set` asks, with
// dockerd's rules and messages; nothing changes when one argument fails.
func applySettings(r *record, args []string) error {
	if r.Enabled {
		return errors.New("cannot set on an active plugin, disable plugin before setting")
	}
	next := r.Settings
	next.Env = append([]string{}, r.Settings.Env...)
	next.Mounts = append([]plugin.Mount{}, r.Settings.Mounts...)
	next.Devices = append([]plugin.Device{}, r.Settings.Devices...)
	next.Args = append([]string{}, r.Settings.Args...)
	cfg := r.Config
	for _, arg := range args {
		s, err := parseSetting(arg)
		if err != nil {
			return errdefs.InvalidParameter(err)
		}
		if err := applyOne(&cfg, &next, s); err != nil {
			return errdefs.InvalidParameter(err)
		}
	}
	r.Settings = next
	r.Config = cfg
	return nil
}

func applyOne(cfg *plugin.Config, next *plugin.Settings, s setting) error {
	notSettable := fmt.Errorf("%q is not settable", s.pretty())
	for _, e := range cfg.Env {
		if e.Name != s.name {
			continue
		}
		if ok, err := s.allowed(settableEnv, e.Settable); err != nil {
			return err
		} else if !ok {
			return notSettable
		}
		for i, kv := range next.Env {
			if k, _, _ := strings.Cut(kv, "="); k == s.name {
				next.Env[i] = s.name + "=" + s.value
				return nil
			}
		}
		next.Env = append(next.Env, s.name+"="+s.value)
		return nil
	}
	for i, mnt := range cfg.Mounts {
		if mnt.Name != s.name {
			continue
		}
		if ok, err := s.allowed(settableMounts, mnt.Settable); err != nil {
			return err
		} else if !ok {
			return notSettable
		}
		if mnt.Source == nil {
			return errors.New("plugin config has no mount source")
		}
		// dockerd's config and settings share the source: both show it.
		v := s.value
		cfg.Mounts = append([]plugin.Mount{}, cfg.Mounts...)
		cfg.Mounts[i].Source = &v
		for j := range next.Mounts {
			if next.Mounts[j].Name == s.name {
				next.Mounts[j].Source = &v
			}
		}
		return nil
	}
	for i, dev := range cfg.Linux.Devices {
		if dev.Name != s.name {
			continue
		}
		if ok, err := s.allowed(settableDevices, dev.Settable); err != nil {
			return err
		} else if !ok {
			return notSettable
		}
		if dev.Path == nil {
			return errors.New("plugin config has no device path")
		}
		v := s.value
		cfg.Linux.Devices = append([]plugin.Device{}, cfg.Linux.Devices...)
		cfg.Linux.Devices[i].Path = &v
		for j := range next.Devices {
			if next.Devices[j].Name == s.name {
				next.Devices[j].Path = &v
			}
		}
		return nil
	}
	if cfg.Args.Name == s.name {
		if ok, err := s.allowed(settableArgs, cfg.Args.Settable); err != nil {
			return err
		} else if !ok {
			return notSettable
		}
		next.Args = strings.Split(s.value, " ")
		return nil
	}
	return fmt.Errorf("setting %q not found in the plugin configuration", s.name)
}

// Privileges are what a plugin's config asks of the host, the list
// `docker plugin install` shows for the user to accept.
func Privileges(c plugin.Config) plugin.Privileges {
	var out plugin.Privileges
	add := func(name, desc string, value ...string) {
		out = append(out, plugin.Privilege{Name: name, Description: desc, Value: value})
	}
	if t := c.Network.Type; t != "" && t != "null" && t != "bridge" {
		add("network", "permissions to access a network", t)
	}
	if c.IpcHost {
		add("host ipc namespace", "allow access to host ipc namespace", "true")
	}
	if c.PidHost {
		add("host pid namespace", "allow access to host pid namespace", "true")
	}
	for _, m := range c.Mounts {
		if m.Source != nil {
			add("mount", "host path to mount", *m.Source)
		}
	}
	for _, d := range c.Linux.Devices {
		if d.Path != nil {
			add("device", "host device to access", *d.Path)
		}
	}
	if c.Linux.AllowAllDevices {
		add("allow-all-devices", "allow 'rwm' access to all devices", "true")
	}
	if len(c.Linux.Capabilities) > 0 {
		add("capabilities", "list of additional capabilities required", c.Linux.Capabilities...)
	}
	return out
}

// samePrivileges compares what the client accepted with what the config
// asks, in any order.
func samePrivileges(accepted, required plugin.Privileges) bool {
	if len(accepted) != len(required) {
		return false
	}
	key := func(p plugin.Privilege) string {
		v := append([]string{}, p.Value...)
		slices.Sort(v)
		return p.Name + "\x00" + strings.Join(v, "\x00")
	}
	a := make([]string, 0, len(accepted))
	for _, p := range accepted {
		a = append(a, key(p))
	}
	r := make([]string, 0, len(required))
	for _, p := range required {
		r = append(r, key(p))
	}
	slices.Sort(a)
	slices.Sort(r)
	return slices.Equal(a, r)
}

// Implements reports whether the plugin offers the capability
// ("volumedriver", "networkdriver", "authz", "logdriver"), compared
// without case, as dockerd's getters ask for "VolumeDriver".
func implements(c plugin.Config, capability string) bool {
	for _, t := range c.Interface.Types {
		if strings.EqualFold(t.Capability, capability) && (t.Prefix == "docker" || t.Prefix == "") {
			return true
		}
	}
	return false
}
